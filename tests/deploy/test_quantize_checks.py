"""`deploy quantize` on hand-built graphs (issue 25): --format qoperator without
quant_pre_process, biases shared between layers, --op-types checked, and a graph with
nothing quantized refused. The oracle is the graph itself, read with onnx: the float biases
written into it, and the QLinearConv nodes and scales of the quantized file."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from cli_helpers import assert_refused, run
from deploy_helpers import IMAGENET

CLASSES = ["background", "aeroplane", "bicycle"]


@pytest.fixture
def calib_dir(tmp_path):
    rng = np.random.default_rng()
    folder = tmp_path / "calib"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (20 + k, 24, 3), dtype=np.uint8)).save(folder / f"im{k}.png")
    return folder


def write_two_convs(path, *, bias: str, bias_values=None):
    """``image -> Conv a -> Relu -> Conv b -> logits`` (1x1 convolutions, 3 channels), with
    c2fbench metadata. Both convolutions add the bias ``bias_values`` (default: drawn,
    away from 0); ``bias`` says how conv b reads it: "shared" (the same initializer as
    conv a), "identity" (an Identity of it, as the PyTorch exporter writes equal
    constants) or "own" (a copy). Returns the float bias."""
    rng = np.random.default_rng()
    values = np.asarray(bias_values if bias_values is not None else
                        rng.uniform(0.3, 1.0, 3) * rng.choice([-1, 1], 3), dtype=np.float32)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 3, 1, 1)).astype(np.float32), "wa"),
             numpy_helper.from_array(rng.standard_normal((3, 3, 1, 1)).astype(np.float32) * 4, "wb"),
             numpy_helper.from_array(values, "bias")]
    nodes = [helper.make_node("Conv", ["image", "wa", "bias"], ["a"], name="conv_a"),
             helper.make_node("Relu", ["a"], ["r"], name="relu")]
    b_bias = {"shared": "bias", "identity": "bias_b", "own": "bias_own"}[bias]
    if bias == "identity":
        nodes.append(helper.make_node("Identity", ["bias"], ["bias_b"], name="same_bias"))
    if bias == "own":
        inits.append(numpy_helper.from_array(values.copy(), "bias_own"))
    nodes.append(helper.make_node("Conv", ["r", "wb", b_bias], ["logits"], name="conv_b"))
    graph = helper.make_graph(nodes, "two_convs",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"c2fbench.classes": json.dumps(CLASSES),
                                   "c2fbench.normalization": json.dumps(IMAGENET)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return values


def write_neg(path):
    """``image -> Neg -> logits``: nothing ONNX Runtime quantizes."""
    graph = helper.make_graph([helper.make_node("Neg", ["image"], ["logits"], name="neg")], "neg",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"c2fbench.classes": json.dumps(CLASSES),
                                   "c2fbench.normalization": json.dumps(IMAGENET)})
    onnx.save(model, str(path))


def qlinear_conv_biases(path) -> dict[str, np.ndarray]:
    """Each QLinearConv's bias as the kernel adds it: the INT32 bias times input scale times
    weight scale (the ONNX QLinearConv definition), by node name."""
    proto = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    return {n.name: inits[n.input[8]].astype(np.float64) * inits[n.input[1]] * inits[n.input[4]]
            for n in proto.graph.node if n.op_type == "QLinearConv"}


def quantize(fp32, out, calib, *args):
    return run("deploy", "quantize", "--onnx", fp32, "--out", out, "--calib-images", calib, "--stem", "int8", *args)


@pytest.mark.parametrize("bias, args", [("identity", ["--no-preprocess"]), ("identity", []),
                                        ("shared", ["--no-preprocess"]), ("shared", [])])
def test_qoperator_gives_every_convolution_its_own_bias(tmp_path, calib_dir, bias, args):
    """An Identity bias crashed ONNX Runtime's QOperator quantizer without quant_pre_process
    (AttributeError), and a shared bias was quantized with the first layer's scales for both."""
    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    values = write_two_convs(fp32, bias=bias)
    result = quantize(fp32, out, calib_dir, "--format", "qoperator", *args)
    assert result.exit_code == 0, result.output
    biases = qlinear_conv_biases(out)
    assert len(biases) == 2, sorted(biases)
    proto = onnx.load(str(out))
    scales = {n.name: numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == n.input[1]))
              * numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == n.input[4]))
              for n in proto.graph.node if n.op_type == "QLinearConv"}
    for name, got in biases.items():  # off by at most half a quantization step (rounding), plus float error
        assert np.all(np.abs(got - values) <= 0.5 * scales[name] + 1e-6), (name, got, values)
    assert "2 quantized operators" in result.output


def test_qoperator_matches_qdq_on_the_same_graph(tmp_path, calib_dir):
    """Both forms run the same INT8 arithmetic: on a shared-bias graph their outputs agree
    closely (they differed by the second layer's bias before)."""
    from deploy.runtimes import OnnxRuntime

    fp32 = tmp_path / "fp32.onnx"
    write_two_convs(fp32, bias="shared", bias_values=[3.0, -2.0, 2.5])
    for fmt in ("qdq", "qoperator"):
        assert quantize(fp32, tmp_path / f"{fmt}.onnx", calib_dir, "--format", fmt).exit_code == 0
    x = np.random.default_rng().standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref = OnnxRuntime(fp32).infer(x)
    qdq, qop = OnnxRuntime(tmp_path / "qdq.onnx").infer(x), OnnxRuntime(tmp_path / "qoperator.onnx").infer(x)
    assert np.abs(qop - ref).mean() < 0.1 * np.abs(ref).mean()
    assert np.abs(qop - qdq).max() < 0.05 * np.abs(ref).max()


@pytest.mark.parametrize("ops, words", [
    ("Bogus,NotAnOp", ["--op-types Bogus", "not an operator type ONNX Runtime quantizes", "Conv"]),
    ("Conv,Bogus", ["--op-types Bogus"]),
    ("conv", ["--op-types conv", "case-sensitive", "did you mean Conv?"]),
    ("Conv,maxpool", ["did you mean MaxPool?"]),
    ("MatMul", ["fp32.onnx", "--op-types MatMul", "the graph has no such nodes", "Conv"]),
    ("BatchNormalization", ["--format qoperator"]),  # a QDQ-only type
])
def test_op_types_are_checked(tmp_path, calib_dir, ops, words):
    fp32, out_dir = tmp_path / "fp32.onnx", tmp_path / "o"
    write_two_convs(fp32, bias="own")
    fmt = ["--format", "qoperator"] if "BatchNormalization" in ops else []
    assert_refused(quantize(fp32, out_dir / "int8.onnx", calib_dir, "--op-types", ops, *fmt), out_dir, *words)


def test_op_types_quantize_what_they_name(tmp_path, calib_dir):
    fp32, out = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    write_two_convs(fp32, bias="own")
    result = quantize(fp32, out, calib_dir, "--op-types", "Conv", "--format", "qoperator")
    assert result.exit_code == 0, result.output
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("QLinearConv") == 2 and "Conv" not in ops
    record = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}["c2fbench.quantization"])
    assert record["op_types"] == ["Conv"] and record["quantized_ops"] == {"QLinearConv": 2}


@pytest.mark.parametrize("fmt", ["qdq", "qoperator"])
def test_a_graph_with_nothing_quantized_is_refused(tmp_path, calib_dir, fmt):
    out_dir = tmp_path / "o"
    write_neg(tmp_path / "neg.onnx")
    assert_refused(quantize(tmp_path / "neg.onnx", out_dir / "int8.onnx", calib_dir, "--format", fmt), out_dir,
                   "neg.onnx: nothing was quantized", "the graph has no node of a type ONNX Runtime quantizes",
                   "was not written")
    write_two_convs(tmp_path / "fp32.onnx", bias="own")  # every node kept FP32 by name
    assert_refused(quantize(tmp_path / "fp32.onnx", out_dir / "int8.onnx", calib_dir, "--format", fmt,
                            "--keep-fp32", "."), out_dir, "nothing was quantized",
                   "its 3 nodes of a type ONNX Runtime quantizes are kept FP32")


def test_untie_initializers_keeps_the_function(tmp_path):
    """The graph after untying computes what it did (ONNX Runtime, FP32), and every
    convolution reads initializers of its own."""
    import onnxruntime as ort

    from deploy.quantize_graph import untie_initializers

    write_two_convs(tmp_path / "m.onnx", bias="identity")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    before = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert untie_initializers(proto) == 1
    assert "Identity" not in {n.op_type for n in proto.graph.node}
    onnx.checker.check_model(proto)
    after = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng().standard_normal((2, 3, 5, 4)).astype(np.float32)
    np.testing.assert_array_equal(before.run(None, {"image": x})[0], after.run(None, {"image": x})[0])
    write_two_convs(tmp_path / "s.onnx", bias="shared")
    proto = onnx.load(str(tmp_path / "s.onnx"))
    assert untie_initializers(proto) == 1
    readers = [n.input[2] for n in proto.graph.node if n.op_type == "Conv"]
    assert len(set(readers)) == 2 and set(readers) <= {t.name for t in proto.graph.initializer}
