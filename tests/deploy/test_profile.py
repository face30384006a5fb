"""Profiler: statistics on a hand-computed sequence, shapes, and profile.json from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c2fbench.errors import InputError
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.profile import parse_shape
from deploy.timing import latency_stats

DESIGN_FIELDS = {"backend", "precision", "model", "sha256", "shape", "threads", "device", "versions", "iterations",
                 "mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "cv", "median_over_min",
                 "unstable", "vs", "preemptions_per_s", "throughput_ips", "memory_format", "wall_s", "warmup_runs",
                 "cuda_graph", "gpu_events"}


def run_cli(args: list[str]):
    """``c2fbench ARGS`` in-process (tests/cli_helpers.py), imported here rather than with the
    module: click is not installed where the gpu tests run (benchmarks/gpu_check.py --prepared)."""
    from cli_helpers import run

    return run(*args)


def test_latency_stats_on_a_known_sequence():
    # 1, 2, ..., 100 ms; numpy's linear percentile: p90 at rank 0.9 * 99 = 89.1 -> 90 + 0.1 = 90.1,
    # p95 at rank 94.05 -> 95.05; the population variance of 1..n is (n^2 - 1) / 12
    stats = latency_stats([float(v) for v in range(100, 0, -1)], batch=2)
    assert stats == pytest.approx({"iterations": 100, "mean_ms": 50.5, "median_ms": 50.5, "p90_ms": 90.1,
                                   "p95_ms": 95.05, "p99_ms": 99.01, "min_ms": 1.0, "max_ms": 100.0,
                                   "cv": (9999 / 12) ** 0.5 / 50.5,
                                   "throughput_ips": 200 / 5.05})  # 200 images in 5.05 s
    one = latency_stats([4.0], batch=1)
    assert one["median_ms"] == one["p99_ms"] == 4.0 and one["throughput_ips"] == pytest.approx(250.0)
    assert one["cv"] == 0.0
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
    result = run_cli(["deploy", "export", "--model", "m.pt", "--out", "m.onnx", "--height", "100000"])
    assert result.exit_code == 2 and "8<=x<=8000" in result.output


def test_profile_cli_writes_design_fields(tmp_path, deeplab_ckpt):
    result = run_cli(["deploy", "profile", "--model", str(deeplab_ckpt), "--backend", "torch",
                      "--backend", "onnxruntime", "--shape", "1x3x32x40", "--warmup", "1",
                      "--warmup-ms", "0", "--iterations", "3", "--duration", "0", "--threads", "1",
                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert [r["backend"] for r in profile["results"]] == ["torch", "onnxruntime"]
    for r in profile["results"]:
        assert set(r) == DESIGN_FIELDS  # CPU: no gpu_median_ms
        assert r["shape"] == [1, 3, 32, 40] and r["threads"] == 1 and r["iterations"] == 3
        assert r["precision"] == "fp32" and r["min_ms"] <= r["median_ms"] <= r["max_ms"]
        assert r["memory_format"] == "contiguous" and not r["cuda_graph"] and not r["gpu_events"]
        assert r["throughput_ips"] == pytest.approx(3 / r["wall_s"])
    assert profile["source"]["model"].endswith("deeplab.pt") and len(profile["source"]["sha256"]) == 64
    assert profile["c2fbench_version"] and profile["time_utc"].endswith("+00:00")
    assert profile["timing"]["iterations"] == 3 and profile["timing"]["duration_s"] == 0
    assert "onnxruntime" in result.output and "median" in result.output


def test_profile_refuses_an_impossible_backend(deeplab_onnx):
    path, _ = deeplab_onnx
    result = run_cli(["deploy", "profile", "--model", str(path), "--backend", "torch"])
    assert result.exit_code == 2 and "torch backend needs a checkpoint" in result.output


# ---- timing: trtexec's method, checked against fake clocks ----

class FakeGpu:
    """A stream with a GPU clock that the steps advance by known amounts, and events that
    read it when recorded: the figures the profiler must report are known in advance."""

    def __init__(self, log):
        self.clock, self.log = 0.0, log

    def advance(self, name, ms):
        def step():
            self.log.append(name)
            self.clock += ms
        return step

    def event(self):
        gpu = self

        class Event:
            def record(self, stream):
                assert stream is gpu
                self.t = gpu.clock
                gpu.log.append(f"record {id(self)}")

            def synchronize(self):
                gpu.log.append(f"sync {id(self)}")

            def elapsed_time(self, other):
                return other.t - self.t
        return Event()


def test_gpu_figures_come_from_events_around_each_step_and_one_sync_after_the_last():
    from deploy.timing import time_steps
    from c2fbench.inference import Steps

    log = []
    gpu = FakeGpu(log)
    events = []

    def event():
        events.append(gpu.event())
        return events[-1]
    steps = Steps(h2d=gpu.advance("h2d", 0.5), compute=gpu.advance("compute", 2.0), d2h=gpu.advance("d2h", 0.25),
                  stream=gpu, cuda_graph=True)
    result = time_steps(steps, batch=2, warmup_ms=0, warmup=2, iterations=5, duration_s=0, event=event)
    assert result["iterations"] == 5 and result["warmup_runs"] == 2 and result["gpu_events"] and result["cuda_graph"]
    assert result["gpu_median_ms"] == 2.0 and result["h2d_median_ms"] == 0.5 and result["d2h_median_ms"] == 0.25
    assert result["latency_median_ms"] == 2.75  # trtexec: H2D + GPU compute + D2H
    assert result["gpu"]["compute"]["min_ms"] == result["gpu"]["compute"]["max_ms"] == 2.0
    assert result["throughput_ips"] == pytest.approx(2 * 5 / result["wall_s"])
    e = [f"record {id(x)}" for x in events]
    one_run = [e[0], "h2d", e[1], "compute", e[2], "d2h", e[3], f"sync {id(events[3])}"]
    assert len(events) == 4 and log == one_run * 7  # 2 warm-up + 5 timed runs, nothing synchronised mid-run


def test_runs_until_both_the_least_iterations_and_the_least_duration():
    import time as clock

    from deploy.timing import time_steps
    from c2fbench.inference import Steps

    calls = []

    def compute():
        calls.append(1)
        clock.sleep(0.01)
    exact = time_steps(Steps(compute=compute), batch=1, warmup_ms=0, warmup=3, iterations=7, duration_s=0)
    assert exact["iterations"] == 7 and exact["warmup_runs"] == 3 and len(calls) == 10
    assert not exact["gpu_events"] and "gpu_median_ms" not in exact
    by_time = time_steps(Steps(compute=compute), batch=1, warmup_ms=50, warmup=0, iterations=2, duration_s=0.15)
    assert by_time["warmup_runs"] >= 4 and by_time["iterations"] >= 10 and by_time["wall_s"] >= 0.15
    assert sum(1 for _ in calls) == 10 + by_time["warmup_runs"] + by_time["iterations"]


@pytest.mark.parametrize("args, words", [
    (["--cuda-graph"], "--cuda-graph needs --device cuda (this run is on cpu)"),
    (["--amp", "--backend", "onnxruntime"], "--amp applies to the torch backend"),
    (["--channels-last", "--backend", "onnxruntime"], "--channels-last applies to the torch backend"),
    (["--duration", "nan"], "--duration"),
    (["--warmup-ms", "-1"], "--warmup-ms"),
])
def test_profile_refuses_options_that_would_not_apply(tmp_path, deeplab_ckpt, args, words):
    from cli_helpers import assert_refused, run

    result = run("deploy", "profile", "--model", deeplab_ckpt, "--shape", "1x3x16x16", "--out", tmp_path / "p", *args)
    assert_refused(result, tmp_path / "p", words)


def test_amp_and_channels_last_on_the_cpu(tmp_path, deeplab_ckpt):
    from c2fbench.inference import load_torch_runtime

    plain = load_torch_runtime(deeplab_ckpt, threads=1)
    fast = load_torch_runtime(deeplab_ckpt, threads=1, amp=True, channels_last=True)
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 40)).astype(np.float32)
    a, b = plain.infer(x), fast.infer(x)
    assert b.dtype == np.float32 and fast.precision == "amp-bf16" and fast.memory_format == "channels_last"
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max() and np.abs(a - b).max() > 0  # BF16: close, not equal
    result = run_cli(["deploy", "profile", "--model", str(deeplab_ckpt), "--backend", "torch",
                      "--amp", "--channels-last", "--shape", "1x3x32x40", "--warmup-ms", "0",
                      "--iterations", "2", "--duration", "0", "--threads", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "profile.json").read_text())["results"][0]
    assert row["precision"] == "amp-bf16" and row["memory_format"] == "channels_last"
    assert "channels_last" in result.output


@pytest.mark.gpu
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_torch_on_cuda_reports_gpu_figures_and_its_output_is_the_model_s(deeplab_ckpt, cuda_graph):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from deploy.timing import time_steps
    from c2fbench.inference import load_torch_runtime

    runtime = load_torch_runtime(deeplab_ckpt, device="cuda")
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    steps = runtime.prepare(x, cuda_graph=cuda_graph)
    result = time_steps(steps, batch=1, warmup_ms=0, iterations=5, duration_s=0)
    assert result["gpu_events"] and result["cuda_graph"] == cuda_graph
    gpu = result["gpu"]
    assert 0 < gpu["compute"]["median_ms"] <= result["median_ms"]
    assert result["latency_median_ms"] == pytest.approx(sum(gpu[k]["median_ms"] for k in ("h2d", "compute", "d2h")),
                                                         rel=0.5)  # a median of sums, not a sum of medians
    host_out = steps.keep[2]
    np.testing.assert_allclose(host_out.numpy(), load_torch_runtime(deeplab_ckpt).infer(x), atol=1e-3)
