"""ONNX export of DeepLab and DFPN: checker, metadata, agreement with PyTorch at two sizes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from c2fbench.models import load_checkpoint
from deploy.export import compare_logits, export_onnx, label_maps
from deploy.runtimes import OnnxRuntime
from deploy_helpers import deeplab_ckpt, deeplab_onnx, write_checkpoint  # noqa: F401 (fixtures)


def test_dynamic_deeplab_agrees_with_torch_at_two_sizes(deeplab_ckpt, deeplab_onnx):
    path, report = deeplab_onnx
    assert report.dynamic and [c["input"] for c in report.checks] == ["random 64x48", "random 96x72"]
    for check in report.checks:
        assert check["max_abs_diff"] < 1e-3 and check["argmax_agreement"] > 99.9
    # an independent run at a third, odd size, straight through both libraries
    model, _ = load_checkpoint(deeplab_ckpt)
    x = torch.randn(2, 3, 37, 53)
    with torch.inference_mode():
        expected = model(x).numpy()
    got = OnnxRuntime(path).infer(x.numpy())
    assert got.shape == (2, 3, 37, 53)
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=1e-3)


def test_metadata_carries_classes_normalisation_and_version(deeplab_ckpt, deeplab_onnx):
    path, _ = deeplab_onnx
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    props = {p.key: p.value for p in proto.metadata_props}
    meta = torch.load(deeplab_ckpt, weights_only=True)
    assert json.loads(props["c2fbench.classes"]) == meta["classes"]
    assert json.loads(props["c2fbench.normalization"]) == meta["normalization"]
    assert props["c2fbench.arch"] == "deeplab_v2_mobilenet" and props["c2fbench.version"]
    runtime = OnnxRuntime(path)
    assert runtime.classes == meta["classes"] and runtime.precision == "fp32"


def test_dfpn_static_export_and_size_check(tmp_path):
    ckpt = tmp_path / "dfpn.pt"
    write_checkpoint(ckpt, "dfpn_mobilenet", 1)
    report = export_onnx(ckpt, tmp_path / "dfpn.onnx", height=64, width=64)
    assert report.input_shape == (1, 3, 64, 64) and len(report.checks) == 1
    assert report.checks[0]["max_abs_diff"] < 1e-3 and report.checks[0]["argmax_agreement"] > 99.9
    runtime = OnnxRuntime(tmp_path / "dfpn.onnx")
    assert runtime.static_hw == (64, 64) and runtime.classes == ["background"]
    with pytest.raises(InputError, match="dfpn.onnx: static input 64x64"):
        runtime.infer(np.zeros((1, 3, 32, 64), np.float32))


def test_compare_logits_on_a_hand_made_case():
    ref = np.zeros((1, 2, 1, 4), np.float32)
    ref[0, 1] = [1, 1, -1, -1]  # labels 1 1 0 0
    other = ref.copy()
    other[0, 1, 0, 0] = -0.5  # first pixel flips to label 0; diff 1.5 there
    c = compare_logits(ref, other, what="x")
    assert c["max_abs_diff"] == pytest.approx(1.5) and c["argmax_agreement"] == pytest.approx(75.0)
    assert label_maps(np.array([[[[0.2, -0.1]]]])).tolist() == [[[True, False]]]


def test_cli_export_and_bad_checkpoint(tmp_path, deeplab_ckpt):
    out = tmp_path / "m.onnx"
    result = CliRunner().invoke(cli, ["deploy", "export", "--model", str(deeplab_ckpt), "--out", str(out),
                                      "--height", "40", "--width", "40"])
    assert result.exit_code == 0, result.output
    assert "argmax agree" in result.output and out.is_file()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(cli, ["deploy", "export", "--model", str(bad), "--out", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "bad.pt" in result.output and not (tmp_path / "x.onnx").exists()
