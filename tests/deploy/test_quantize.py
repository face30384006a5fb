"""INT8 quantization: a valid QDQ graph that keeps the metadata and runs; calibration picks."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from PIL import Image

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.quantize import calibration_images, head_nodes
from deploy.runtimes import OnnxRuntime


@pytest.fixture
def calib_dir(tmp_path):
    rng = np.random.default_rng()
    for k in range(6):
        folder = tmp_path / "calib" / f"n0{k % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40 + k, 48, 3), dtype=np.uint8)).save(folder / f"im{k}.jpg")
    return tmp_path / "calib"


def test_calibration_images_spread_over_classes(calib_dir, tmp_path):
    picks = calibration_images(calib_dir, 2)
    assert [p.parent.name for p in picks] == ["n00", "n01"]
    assert len(calibration_images(calib_dir, 100)) == 6
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: no images"):
        calibration_images(tmp_path / "empty", 4)


def test_quantize_cli_writes_a_runnable_int8_graph(deeplab_onnx, calib_dir, tmp_path):
    fp32, _ = deeplab_onnx
    out = tmp_path / "int8.onnx"
    result = CliRunner().invoke(cli, ["deploy", "quantize", "--onnx", str(fp32), "--out", str(out),
                                      "--calib-images", str(calib_dir), "--num", "4"])
    assert result.exit_code == 0, result.output
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    props = {p.key for p in proto.metadata_props}
    assert {"c2fbench.classes", "c2fbench.normalization", "c2fbench.quantization"} <= props
    int8, ref = OnnxRuntime(out), OnnxRuntime(fp32)
    assert int8.precision == "int8" and int8.classes == ref.classes
    x = np.random.default_rng().standard_normal((1, 3, 40, 48)).astype(np.float32)
    assert int8.infer(x).shape == ref.infer(x).shape == (1, 3, 40, 48)
    result = CliRunner().invoke(cli, ["deploy", "quantize", "--onnx", str(out), "--out", str(tmp_path / "x.onnx"),
                                      "--calib-images", str(calib_dir)])
    assert result.exit_code == 2 and "already int8" in result.output


def test_head_nodes_stop_at_the_last_convolutions(deeplab_onnx):
    proto = onnx.load(str(deeplab_onnx[0]))
    by_name = {n.name: n for n in proto.graph.node}
    head = [by_name[name] for name in head_nodes(proto)]
    convs = [n for n in head if n.op_type == "Conv"]
    assert len(convs) == 4 and all("head" in n.name for n in convs)  # the four ASPP branches
    assert "Resize" in {n.op_type for n in head}


def test_fp32_nodes_by_pattern_include_renamed_nodes(deeplab_onnx):
    from deploy.quantize import fp32_nodes, name_nodes

    proto = onnx.load(str(deeplab_onnx[0]))
    proto.graph.node[1].name = ""  # as quant_pre_process leaves inlined HardSwish nodes
    name_nodes(proto)
    assert all(n.name for n in proto.graph.node)
    names = fp32_nodes(proto, head=False, patterns=(r"backbone\.1[0-6]/",))
    assert names and all(re.search(r"backbone\.1[0-6]/", n) for n in names)
    assert set(head_nodes(proto)) <= set(fp32_nodes(proto, head=True, patterns=()))
    with pytest.raises(InputError, match="--keep-fp32: bad regular expression"):
        fp32_nodes(proto, head=False, patterns=("(",))
