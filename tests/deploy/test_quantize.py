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


# ---- INT8 for TensorRT: signed, symmetric Q/DQ, and the graph checks of `deploy build --precision int8` ----

def zero_points(path):
    """Every Q/DQ zero point of the graph, read straight from its initializers."""
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    return [inits[n.input[2]] for n in proto.graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits]


@pytest.fixture
def int8_pair(deeplab_onnx, calib_dir, tmp_path):
    """The same FP32 graph quantized for the CPU (default) and for TensorRT."""
    from deploy.quantize import quantize_static_int8

    fp32, _ = deeplab_onnx
    cpu, trt = tmp_path / "cpu-int8.onnx", tmp_path / "trt-int8.onnx"
    quantize_static_int8(fp32, cpu, calib_images=calib_dir, num=4)
    record = quantize_static_int8(fp32, trt, calib_images=calib_dir, num=4, target="tensorrt")
    assert record["target"] == "tensorrt" and record["activations"] == "int8" and record["symmetric_activations"]
    return fp32, cpu, trt


def test_a_graph_quantized_for_tensorrt_is_signed_and_symmetric_and_runs(int8_pair):
    fp32, cpu, trt = int8_pair
    points = zero_points(trt)
    assert points and all(z.dtype == np.int8 and not z.any() for z in points)
    assert any(z.dtype == np.uint8 for z in zero_points(cpu))  # the CPU default: unsigned activations
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 48)).astype(np.float32)
    a, b = OnnxRuntime(fp32).infer(x), OnnxRuntime(trt).infer(x)
    assert OnnxRuntime(trt).precision == "int8" and a.shape == b.shape
    assert np.abs(a - b).max() < 0.25 * np.abs(a).max()  # quantized, not another network


def test_int8_builds_take_only_a_graph_quantized_for_tensorrt(int8_pair, tmp_path):
    from deploy.tensorrt_build import check_graph_precision

    fp32, cpu, trt = int8_pair
    check_graph_precision(trt, "int8")
    check_graph_precision(fp32, "fp32")
    check_graph_precision(fp32, "fp16")
    refusals = [(fp32, "int8", "no QuantizeLinear/DequantizeLinear nodes"),
                (cpu, "int8", "is uint8 (ONNX Runtime's CPU default); TensorRT takes signed, symmetric INT8"),
                (trt, "fp32", "an INT8 graph (quantized nodes); build it with --precision int8"),
                (trt, "fp16", "build it with --precision int8"),
                (fp32, "int4", "--precision 'int4': expected one of fp32, fp16, int8")]
    for path, precision, words in refusals:
        with pytest.raises(InputError, match=re.escape(words)):
            check_graph_precision(path, precision)
    # through the CLI: refused before TensorRT is looked for, nothing written
    from cli_helpers import assert_refused, run

    result = run("deploy", "build", "--onnx", cpu, "--out", tmp_path / "o" / "m.engine", "--precision", "int8")
    assert_refused(result, tmp_path / "o", "deploy quantize --target tensorrt")


def test_int8_build_checks_zero_points_wherever_they_are(tmp_path):
    """Zero points given by a Constant node, an asymmetric INT8 one, and none at all (0 by
    the ONNX specification), on hand-built Q/DQ graphs."""
    from onnx import TensorProto, helper

    from deploy.tensorrt_build import check_graph_precision

    def graph(zero_point, *, as_constant=False):
        scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.1])
        nodes, inits = [], [scale]
        inputs = ["x", "scale"]
        if zero_point is not None:
            zp = helper.make_tensor("zp", TensorProto.INT8, [], [zero_point])
            if as_constant:
                nodes.append(helper.make_node("Constant", [], ["zp"], value=zp))
            else:
                inits.append(zp)
            inputs.append("zp")
        nodes += [helper.make_node("QuantizeLinear", inputs, ["q"], name="q0"),
                  helper.make_node("DequantizeLinear", ["q", *inputs[1:]], ["y"], name="dq0")]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], inits)
        path = tmp_path / f"q-{zero_point}-{as_constant}.onnx"
        onnx.save(helper.make_model(g), str(path))
        return path

    check_graph_precision(graph(0), "int8")
    check_graph_precision(graph(None), "int8")
    check_graph_precision(graph(0, as_constant=True), "int8")
    for path in (graph(3), graph(3, as_constant=True)):
        with pytest.raises(InputError, match="QuantizeLinear 'q0' has zero point 3; TensorRT quantizes symmetrically"):
            check_graph_precision(path, "int8")
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(InputError, match="junk.onnx: not a readable ONNX file"):
        check_graph_precision(tmp_path / "junk.onnx", "int8")


def _quantized_nodes(proto) -> set[str]:
    """Names of the nodes between a DequantizeLinear and a QuantizeLinear (what ONNX Runtime
    fuses into INT8 kernels): reading a dequantized tensor and writing one that is quantized."""
    dq = {o for n in proto.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    q = {i for n in proto.graph.node if n.op_type == "QuantizeLinear" for i in n.input[:1]}
    return {n.name for n in proto.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
            and any(i in dq for i in n.input) and any(o in q for o in n.output)}


def _fp32_graph_nodes(fp32_path):
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from deploy.quantize import name_nodes

    pre = fp32_path.with_name("pre-test.onnx")
    quant_pre_process(str(fp32_path), str(pre))
    return name_nodes(onnx.load(str(pre)))


def test_cpu_defaults_keep_the_stem_and_the_upsampling_fp32_and_quantize_the_head(deeplab_onnx, calib_dir, tmp_path):
    from deploy.quantize import quantize_static_int8, stem_nodes, tail_nodes

    fp32, _ = deeplab_onnx
    reference = _fp32_graph_nodes(fp32)
    stem, tail = stem_nodes(reference), tail_nodes(reference)
    convs = [n.name for n in reference.graph.node if n.op_type == "Conv"]
    head_convs = [name for name in head_nodes(reference) if name in convs]
    assert len(stem) == 1 and stem[0] == convs[0] and head_convs and tail  # the image's first convolution
    assert {n.op_type for n in reference.graph.node if n.name in tail} >= {"Resize"}
    record = quantize_static_int8(fp32, tmp_path / "cpu.onnx", calib_images=calib_dir, num=4)
    assert (record["head"], record["stem"], record["tail"]) == ("int8", "fp32", "fp32")
    int8 = _quantized_nodes(onnx.load(str(tmp_path / "cpu.onnx")))
    assert not int8 & (set(stem) | set(tail)), int8 & (set(stem) | set(tail))
    assert set(head_convs) <= int8
    record = quantize_static_int8(fp32, tmp_path / "trt.onnx", calib_images=calib_dir, num=4, target="tensorrt")
    assert (record["head"], record["stem"]) == ("fp32", "int8")
    int8 = _quantized_nodes(onnx.load(str(tmp_path / "trt.onnx")))
    assert set(stem) <= int8 and not int8 & set(head_convs)


@pytest.mark.parametrize("args, fragment", [
    (["--quantize-head", "--head", "fp32"], "contradict"),
    (["--op-types", " , "], "give operator types"),
    (["--format", "qoperator", "--target", "tensorrt"], "qoperator for --target cpu"),
    (["--equalize", "sideways"], "sideways"),
])
def test_quantize_option_refusals(deeplab_onnx, calib_dir, tmp_path, args, fragment):
    fp32, _ = deeplab_onnx
    out = tmp_path / "x.onnx"
    result = CliRunner().invoke(cli, ["deploy", "quantize", "--onnx", str(fp32), "--out", str(out),
                                      "--calib-images", str(calib_dir), *args])
    assert result.exit_code == 2 and fragment in result.output and not out.exists(), result.output


@pytest.mark.parametrize("args", [["--format", "qoperator"], ["--per-tensor", "--no-preprocess"],
                                  ["--equalize", "cle"], ["--equalize", "smoothquant", "--stem", "int8"],
                                  ["--op-types", "Conv", "--head", "fp32"]])
def test_quantize_variants_run_close_to_fp32(deeplab_onnx, calib_dir, tmp_path, args):
    """Every variant writes a graph that runs and stays near the FP32 logits on a calibration
    image (random weights: a loose bound; accuracy on real data is `deploy parity`'s job)."""
    from c2fbench.data.images import read_rgb
    from c2fbench.inference import normalise

    fp32, _ = deeplab_onnx
    out = tmp_path / "v.onnx"
    result = CliRunner().invoke(cli, ["deploy", "quantize", "--onnx", str(fp32), "--out", str(out),
                                      "--calib-images", str(calib_dir), "--num", "4", *args])
    assert result.exit_code == 0, result.output
    x = normalise(read_rgb(sorted(calib_dir.rglob("*.jpg"))[0]), OnnxRuntime(fp32).normalization).unsqueeze(0).numpy()
    ref, got = OnnxRuntime(fp32).infer(x), OnnxRuntime(out).infer(x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert np.abs(got - ref).mean() < 0.25 * np.abs(ref).mean() + 1e-3
