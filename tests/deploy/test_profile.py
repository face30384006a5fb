"""Profiler: statistics on a hand-computed sequence, shapes, and profile.json from the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.profile import latency_stats, parse_shape

DESIGN_FIELDS = {"backend", "precision", "shape", "threads", "device", "versions", "iterations", "mean_ms",
                 "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "throughput_ips"}


def test_latency_stats_on_a_known_sequence():
    # 1, 2, ..., 100 ms; numpy's linear percentile: p90 at rank 0.9 * 99 = 89.1 -> 90 + 0.1 = 90.1
    stats = latency_stats([float(v) for v in range(100, 0, -1)], batch=2)
    assert stats == pytest.approx({"iterations": 100, "mean_ms": 50.5, "median_ms": 50.5, "p90_ms": 90.1,
                                   "p99_ms": 99.01, "min_ms": 1.0, "max_ms": 100.0,
                                   "throughput_ips": 200 / 5.05})  # 200 images in 5.05 s
    one = latency_stats([4.0], batch=1)
    assert one["median_ms"] == one["p99_ms"] == 4.0 and one["throughput_ips"] == pytest.approx(250.0)
    for bad in ([], [1.0, float("nan")], [-1.0]):
        with pytest.raises(ValueError):
            latency_stats(bad, batch=1)


def test_parse_shape():
    assert parse_shape("1x3x321x321") == (1, 3, 321, 321) and parse_shape("2X3X64X48") == (2, 3, 64, 48)
    for bad in ("1x3x321", "1x1x8x8", "ax3x8x8", "0x3x8x8"):
        with pytest.raises(InputError, match="--shape"):
            parse_shape(bad)


def test_a_shape_too_large_to_allocate_is_refused_before_any_memory_is_asked():
    assert parse_shape("1x3x8000x8000") == (1, 3, 8000, 8000)  # 64 Mpx: the largest image c2fbench reads
    for bad, pixels in (("1x3x100000x100000", "10,000,000,000"), ("1000x3x512x512", "262,144,000"),
                        ("2x3x8000x8000", "128,000,000")):
        with pytest.raises(InputError, match=rf"--shape '{bad}': {pixels} pixels in the batch, more than"):
            parse_shape(bad)
    result = CliRunner().invoke(cli, ["deploy", "export", "--model", "m.pt", "--out", "m.onnx", "--height", "100000"])
    assert result.exit_code == 2 and "8<=x<=8000" in result.output


def test_profile_cli_writes_design_fields(tmp_path, deeplab_ckpt):
    result = CliRunner().invoke(cli, ["deploy", "profile", "--model", str(deeplab_ckpt), "--backend", "torch",
                                      "--backend", "onnxruntime", "--shape", "1x3x32x40", "--warmup", "1",
                                      "--iterations", "3", "--threads", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert [r["backend"] for r in profile["results"]] == ["torch", "onnxruntime"]
    for r in profile["results"]:
        assert set(r) == DESIGN_FIELDS  # CPU: no gpu_median_ms
        assert r["shape"] == [1, 3, 32, 40] and r["threads"] == 1 and r["iterations"] == 3
        assert r["precision"] == "fp32" and r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    assert profile["source"]["model"].endswith("deeplab.pt") and len(profile["source"]["sha256"]) == 64
    assert profile["c2fbench_version"] and profile["time_utc"].endswith("+00:00")
    assert "onnxruntime" in result.output and "median" in result.output


def test_profile_refuses_an_impossible_backend(deeplab_onnx):
    path, _ = deeplab_onnx
    result = CliRunner().invoke(cli, ["deploy", "profile", "--model", str(path), "--backend", "torch"])
    assert result.exit_code == 2 and "torch backend needs a checkpoint" in result.output
