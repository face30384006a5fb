"""Static INT8 quantization of an exported ONNX file, calibrated on real training images.

ONNX Runtime's post-training static quantization: ``quant_pre_process`` (symbolic shape
inference and graph optimisation, as ORT recommends), then ``quantize_static`` in the QDQ
format with per-channel weight scales, unsigned 8-bit activations and signed 8-bit weights
(the U8S8 combination ORT recommends for x86 CPUs), MinMax calibration by default, the stem
and the upsampling kept FP32 (the measured defaults, see :func:`quantize_static_int8`); for
TensorRT (``target="tensorrt"``) activations are signed and symmetric and biases stay FP32
(its DequantizeLinear takes INT8, not ONNX Runtime's INT32 biases), as it requires. Calibration
inputs are training images preprocessed exactly as inference does
(:func:`c2fbench.inference.normalise` on the whole image); for a graph with a static input
size they are first resized to it (bilinear), as they would have to be to run at all.

The output keeps the input's c2fbench metadata (classes, normalisation, ...) and adds
``c2fbench.quantization`` (JSON: method, images, format), so every runtime and
``c2fbench eval --model`` treat it like the FP32 file.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from deploy import CALIBRATION_IMAGES, CALIBRATION_METHOD, QUANTIZE_TARGET

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
CALIB_SIZE = (321, 321)  # (H, W) for histogram calibration of a dynamic graph


class ImageCalibrationReader:
    """ONNX Runtime CalibrationDataReader over image files: each ``get_next()`` is
    ``{input_name: (1, 3, H, W) float32}``, normalised like inference; None at the end."""

    def __init__(self, images: list[Path], *, input_name: str, normalization: dict,
                 static_hw: tuple[int, int] | None) -> None:
        self.images, self.input_name = list(images), input_name
        self.normalization, self.static_hw = normalization, static_hw
        self.position = 0

    def get_next(self) -> dict | None:
        from c2fbench.data.images import read_rgb
        from c2fbench.inference import normalise

        if self.position >= len(self.images):
            return None
        rgb = read_rgb(self.images[self.position])
        self.position += 1
        if self.static_hw is not None and rgb.shape[:2] != self.static_hw:
            import cv2

            rgb = cv2.resize(rgb, self.static_hw[::-1], interpolation=cv2.INTER_LINEAR)
        return {self.input_name: normalise(rgb, self.normalization).unsqueeze(0).numpy()}

    def rewind(self) -> None:
        self.position = 0


def calibration_images(folder: Path, num: int) -> list[Path]:
    """``num`` images spread evenly over the sorted images under ``folder`` (all classes of an
    ImageNet-style tree, not the first one only); InputError if there are none."""
    from c2fbench.data.images import find_image, list_images

    ids = list_images(folder)
    if not ids:
        raise InputError(f"{folder}: no images for calibration")
    picks = np.unique(np.linspace(0, len(ids) - 1, num=min(num, len(ids))).round().astype(int))
    return [find_image(Path(folder), ids[i]) for i in picks]


def head_nodes(proto) -> list[str]:
    """Names of the classifier's nodes: the last convolutions and everything after them.

    Walks back from the nodes producing the graph outputs and stops at (and includes) each
    Conv. For DeepLab that is the four ASPP convolutions, their sum and the final Resize;
    for (D)FPN the predictor convolution and the Resize.
    """
    producer = {out: node for node in proto.graph.node for out in node.output}
    todo = [producer[o.name] for o in proto.graph.output if o.name in producer]
    seen: dict[str, object] = {}
    while todo:
        node = todo.pop()
        if node.name in seen:
            continue
        seen[node.name] = node
        if node.op_type != "Conv":
            todo.extend(producer[i] for i in node.input if i in producer)
    return list(seen)


def name_nodes(proto):
    """Name every unnamed node after its first input (``<input>/<op>_<k>``), in place.

    ``quant_pre_process`` inlines HardSwish into unnamed HardSigmoid and Mul nodes; without
    names they could not be kept in FP32, and named after their input they match the same
    patterns as the layer they belong to."""
    for k, node in enumerate(proto.graph.node):
        if not node.name:
            node.name = f"{node.input[0] if node.input else 'node'}/{node.op_type}_{k}"
    return proto


def stem_nodes(proto) -> list[str]:
    """Names of the convolutions that read the graph's input image directly (the stem: 3
    input channels, where an INT8 convolution is slower than ONNX Runtime's FP32 one)."""
    inputs = {i.name for i in proto.graph.input}
    return [n.name for n in proto.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


def tail_nodes(proto) -> list[str]:
    """The head's nodes after its last convolutions (DeepLab's branch sum and the bilinear
    upsampling to the input size): in INT8 the upsampling would run on the full-size output
    between a QuantizeLinear and a DequantizeLinear, slower than in FP32."""
    by_name = {n.name: n for n in proto.graph.node}
    return [name for name in head_nodes(proto) if by_name[name].op_type != "Conv"]


def fp32_nodes(proto, *, head: bool, patterns: tuple[str, ...], stem: bool = False, tail: bool = False) -> list[str]:
    """Names of the nodes to leave in FP32: the head, the stem and the tail (each optional) and
    names matching ``patterns``."""
    try:
        regexes = [re.compile(p) for p in patterns]
    except re.error as e:
        raise InputError(f"--keep-fp32: bad regular expression ({e})") from None
    named = [n.name for n in proto.graph.node if any(r.search(n.name) for r in regexes)]
    return list(dict.fromkeys((head_nodes(proto) if head else []) + (stem_nodes(proto) if stem else [])
                              + (tail_nodes(proto) if tail else []) + named))


TARGETS = {  # by the runtime that will run the graph: activation type, symmetric ranges, what stays FP32
    # ONNX Runtime's U8S8 for x86 CPUs; head INT8, stem and tail FP32: measured, benchmarks/README.md ("INT8 on the CPU")
    "cpu": {"activations": "uint8", "symmetric": False, "head_fp32": False, "stem_fp32": True},
    # TensorRT: signed, zero point 0; the classifier stays FP32 as before (not measured on a GPU yet)
    "tensorrt": {"activations": "int8", "symmetric": True, "head_fp32": True, "stem_fp32": False},
}


FORMATS = ("qdq", "qoperator")
EQUALIZE = ("none", "cle", "smoothquant")


def quantize_static_int8(onnx_path: Path, out: Path, *, calib_images: Path, num: int = CALIBRATION_IMAGES,
                         method: str = CALIBRATION_METHOD, keep_head_fp32: bool | None = None,
                         keep_stem_fp32: bool | None = None, keep_tail_fp32: bool | None = None,
                         keep_fp32: tuple[str, ...] = (), target: str = QUANTIZE_TARGET, fmt: str = "qdq",
                         per_channel: bool = True, preprocess: bool = True,
                         op_types: tuple[str, ...] | None = None, equalize: str = "none") -> dict:
    """Write the INT8 version of ``onnx_path`` to ``out``; returns the quantization record
    stored in its metadata.

    What stays FP32 depends on ``target`` (:data:`TARGETS`) unless given: for ONNX Runtime on
    the CPU the classifier's convolutions are INT8 (``keep_head_fp32`` False), the stem (the
    convolutions reading the image, :func:`stem_nodes`) FP32, and so is the tail after the
    classifier (:func:`tail_nodes`: the branch sum and the upsampling to the input size;
    ``keep_tail_fp32``). Measured on the demo model and DeepLab v2 ResNet-101 (benchmarks/README.md, "INT8
    on the CPU"): the INT8 stem is slower than FP32's (3 input channels), an INT8 upsampling
    adds a Quantize/Dequantize pair on the full-size output (1-2 ms at 321x321), and the INT8
    classifier costs 0.0-0.2 mIoU on the demo model. (On the earlier MobileNetV3 demo model an
    INT8 classifier, upsampling included, cost 14.6 mIoU: check any model with ``c2fbench
    deploy parity`` and keep its head FP32 if it needs it.) For TensorRT the classifier stays
    FP32 and the stem INT8, as before (not yet measured on a GPU).

    ``fmt`` "qdq" (default) or "qoperator": ONNX Runtime fuses Q/DQ pairs into the same
    QLinearConv kernels, and the two measured alike. ``per_channel`` weight scales (default)
    held 0.1 mIoU more than per-tensor at the same speed. ``preprocess``: ONNX Runtime's
    ``quant_pre_process`` (shape inference, batch norm folded) first, as it recommends.
    ``op_types``: quantize only these operator types (default: all ONNX Runtime can), each
    one ONNX Runtime quantizes in ``fmt`` and one the graph has (:mod:`deploy.quantize_graph`).
    ``equalize``: "cle" (cross-layer equalisation) or "smoothquant" (activation-aware
    rescaling) of Conv-ReLU-Conv chains before calibration (:mod:`deploy.equalize`); neither
    was needed on the measured models. Histogram calibration (entropy, percentile) needs
    inputs of one size, so with those methods a dynamic graph is calibrated on images resized
    to ``CALIB_SIZE``. Nodes whose names match a regular expression of ``keep_fp32`` stay FP32
    too. ``target`` "tensorrt" quantizes activations to signed INT8 with symmetric ranges (zero
    point 0), the only form TensorRT builds.

    ``out`` must lie apart from ``onnx_path`` and ``calib_images`` (refused before anything
    runs), and is written only when the graph holds at least one quantized operator
    (``record["quantized_ops"]`` counts them by type): a graph with nothing to quantize, or
    with all of it kept FP32, is refused and nothing is written."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from c2fbench.atomic import atomic_write_bytes
    from c2fbench.files import check_output_apart
    from deploy.quantize_graph import check_op_types, check_op_types_in_graph, quantized_operators, untie_initializers
    from deploy.runtimes import OnnxRuntime

    check_output_apart(out, {"--onnx": onnx_path, "--calib-images": calib_images})
    if target not in TARGETS:
        raise InputError(f"--target {target!r}: expected one of {', '.join(TARGETS)}")
    keep_head_fp32 = TARGETS[target]["head_fp32"] if keep_head_fp32 is None else keep_head_fp32
    keep_stem_fp32 = TARGETS[target]["stem_fp32"] if keep_stem_fp32 is None else keep_stem_fp32
    keep_tail_fp32 = target == "cpu" if keep_tail_fp32 is None else keep_tail_fp32
    if method not in CALIBRATION_METHODS:
        raise InputError(f"--method {method!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
    if equalize not in EQUALIZE:
        raise InputError(f"--equalize {equalize!r}: expected one of {', '.join(EQUALIZE)}")
    if fmt not in FORMATS or (fmt == "qoperator" and target == "tensorrt"):
        raise InputError(f"--format {fmt!r}: expected qdq, or qoperator for --target cpu")
    op_types = check_op_types(op_types, fmt) if op_types else None
    runtime = OnnxRuntime(onnx_path)  # checks the file and its c2fbench metadata
    if runtime.precision != "fp32":
        raise InputError(f"{onnx_path}: already {runtime.precision}; quantize the FP32 export")
    images = calibration_images(calib_images, num)
    size = runtime.static_hw or (CALIB_SIZE if method != "minmax" else None)
    reader = ImageCalibrationReader(images, input_name=runtime.input_name,
                                    normalization=runtime.normalization, static_hw=size)
    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    symmetric = TARGETS[target]["symmetric"]
    with tempfile.TemporaryDirectory(prefix="c2fbench-int8-") as tmp:
        prepared, quantized = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        if preprocess:
            quant_pre_process(str(onnx_path), str(prepared))
            proto = onnx.load(str(prepared))
        else:
            proto = onnx.load(str(onnx_path))
        proto = name_nodes(proto)
        untie_initializers(proto)  # ONNX Runtime's QOperator form needs a bias of its own per layer
        if op_types:
            check_op_types_in_graph(op_types, proto, path=onnx_path, fmt=fmt)
        if equalize != "none":
            from deploy.equalize import activation_maxima, conv_chains, equalize_convolutions

            maxima = None
            if equalize == "smoothquant":
                maxima = activation_maxima(proto, [tensor for _, tensor, _ in conv_chains(proto)], reader)
                reader.rewind()
            equalize_convolutions(proto, activation_max=maxima)
        onnx.save(proto, str(prepared))
        exclude = fp32_nodes(proto, head=keep_head_fp32, patterns=keep_fp32, stem=keep_stem_fp32,
                             tail=keep_tail_fp32)
        nodes = {n.name: n.op_type for n in proto.graph.node}
        quantize_static(str(prepared), str(quantized), reader,
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        per_channel=per_channel, op_types_to_quantize=list(op_types) if op_types else None,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=calibrate, nodes_to_exclude=exclude,
                        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                                       # TensorRT dequantizes INT8, not INT32: biases stay FP32 for it
                                       "QuantizeBias": not symmetric})
        proto = onnx.load(str(quantized))
    counts = quantized_operators(proto, fmt)
    if not counts:
        raise InputError(f"{onnx_path}: nothing was quantized: {_nothing_why(nodes, exclude, op_types, fmt)}; "
                         f"{out} was not written")
    record = {"method": method, "format": "QDQ" if fmt == "qdq" else "QOperator", "per_channel": per_channel,
              "preprocess": preprocess, "op_types": list(op_types) if op_types else None, "equalize": equalize,
              "target": target,
              "activations": TARGETS[target]["activations"], "symmetric_activations": symmetric, "weights": "int8",
              "num_images": len(images), "images": str(Path(calib_images).resolve()),
              "fp32_nodes": len(exclude), "quantized_ops": dict(sorted(counts.items())),
              "keep_fp32": list(keep_fp32), "head": "fp32" if keep_head_fp32 else "int8",
              "stem": "fp32" if keep_stem_fp32 else "int8", "tail": "fp32" if keep_tail_fp32 or keep_head_fp32
              else "int8"}
    source = onnx.load(str(onnx_path), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props if p.key.startswith("c2fbench.")}
    onnx.helper.set_model_props(proto, {**props, "c2fbench.quantization": json.dumps(record)})
    atomic_write_bytes(out, proto.SerializeToString())
    return record


def _nothing_why(nodes: dict[str, str], exclude: list[str], op_types: tuple[str, ...] | None, fmt: str) -> str:
    """Why a quantized graph holds no quantized operator, for the refusal: ``nodes`` (name:
    type) of the graph as it went to ONNX Runtime, ``exclude`` the names kept FP32."""
    from c2fbench.console import plural
    from deploy.quantize_graph import supported_op_types

    wanted = set(op_types or supported_op_types(fmt))
    kind = f"type {'/'.join(op_types)}" if op_types else "a type ONNX Runtime quantizes"
    candidates = [name for name, op in nodes.items() if op in wanted]
    if not candidates:
        return f"the graph has no node of {kind}"
    if set(candidates) <= set(exclude):
        return (f"its {plural(len(candidates), 'node')} of {kind} {'is' if len(candidates) == 1 else 'are'} kept "
                f"FP32 (--head, --stem, --keep-fp32: {plural(len(exclude), 'node')} in all)")
    return f"ONNX Runtime quantized none of its {plural(len(candidates), 'node')} of {kind}"
