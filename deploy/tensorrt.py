"""TensorRT engines: build from ONNX, a JSON sidecar, and a runtime that refuses misfits.

Written against the TensorRT 10 and 11 Python API (``reference/deploy-anchors.md`` §1):
``Builder`` -> ``create_network(0)`` -> ``OnnxParser`` -> builder config with a WORKSPACE
memory-pool limit, an optimisation profile for dynamic height/width and a timing cache
file -> ``build_serialized_network``. INT8: a Q/DQ graph (``deploy quantize --target
tensorrt``: signed, symmetric) built as a strongly typed network, on 10 and 11 alike
(:func:`check_graph_precision` refuses graphs TensorRT would reject or misread). FP16: TensorRT 10 has ``BuilderFlag.FP16``;
TensorRT 11 removed it (networks are strongly typed), so there the ONNX graph itself is
converted to FP16 first (:func:`fp16_onnx`) and built as is. An FP32 build clears
``BuilderFlag.TF32`` (on by default from Ampere on, it breaks FP32 parity with ONNX
Runtime); the sidecar records ``tf32``. Calls that report failure by returning False
(``set_timing_cache``, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``)
are checked, and an engine runs on a CUDA stream of its own.

An engine runs only with the TensorRT version and GPU it was built for, so
``FILE.engine.json`` records them (with shapes, precision, classes and normalisation) and
:class:`TensorRTRuntime` checks them (:func:`check_sidecar`, a pure function) before
deserialising: a mismatch is an InputError with the fix, not a crash in the runtime.
Only the functions that touch TensorRT or CUDA need them; the rest is tested on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

FORMAT = "c2fbench-tensorrt-engine"
INSTALL = "TensorRT is not installed; on a machine with an NVIDIA GPU: pip install 'c2fbench[tensorrt]'"
DEFAULT_PROFILE = {"min": (1, 3, 128, 128), "opt": (1, 3, 321, 321), "max": (1, 3, 512, 512)}


def import_tensorrt():
    """The ``tensorrt`` module, or InputError saying what to install."""
    try:
        import tensorrt
    except ImportError:
        raise InputError(INSTALL) from None
    if not hasattr(tensorrt, "Builder"):  # e.g. only tensorrt-stubs' .pyi files: a namespace package
        raise InputError(INSTALL)
    return tensorrt


def sidecar_path(engine: Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    return Path(engine).with_name(Path(engine).name + ".json")


def shape_profile(input_shape: list, *, min_shape=None, opt_shape=None, max_shape=None) -> dict:
    """``{"min", "opt", "max"}`` (B, 3, H, W) tuples for an ONNX input of ``input_shape``
    (ints, or names for dynamic axes). A static input has one shape; a dynamic one takes
    the given shapes or :data:`DEFAULT_PROFILE`. InputError unless min <= opt <= max and the
    shapes agree with the static axes."""
    if all(isinstance(d, int) for d in input_shape):
        static = tuple(input_shape)
        given = [s for s in (min_shape, opt_shape, max_shape) if s is not None]
        if any(tuple(s) != static for s in given):
            raise InputError(f"shape profile {given} does not match the static ONNX input {static}")
        return {"min": static, "opt": static, "max": static}
    profile = {k: tuple(v) for k, v in zip(("min", "opt", "max"), (min_shape, opt_shape, max_shape)) if v is not None}
    if "opt" in profile and "min" not in profile:
        profile["min"] = tuple(min(a, b) for a, b in zip(profile["opt"], DEFAULT_PROFILE["min"]))
    if "opt" in profile and "max" not in profile:
        profile["max"] = tuple(max(a, b) for a, b in zip(profile["opt"], DEFAULT_PROFILE["max"]))
    profile = {**DEFAULT_PROFILE, **profile}
    for name, shape in profile.items():
        if len(shape) != 4 or shape[1] != 3 or min(shape) < 1:
            raise InputError(f"--{name}-shape {shape}: expected B x 3 x H x W")
        for axis, dim in enumerate(input_shape):
            if isinstance(dim, int) and shape[axis] != dim:
                raise InputError(f"--{name}-shape {shape}: axis {axis} is fixed to {dim} in the ONNX input")
    if not all(a <= b <= c for a, b, c in zip(profile["min"], profile["opt"], profile["max"])):
        raise InputError(f"shape profile needs min <= opt <= max on every axis, got {profile}")
    return profile


def check_sidecar(sidecar: dict, *, path: Path, tensorrt_version: str, gpu_name: str,
                  compute_capability: str) -> None:
    """InputError naming ``path`` unless the engine described by ``sidecar`` was built with
    this TensorRT version for this GPU (name and compute capability)."""
    if sidecar.get("format") != FORMAT:
        raise InputError(f"{path}: not a c2fbench engine sidecar (no 'format': {FORMAT!r})")
    built = (sidecar.get("tensorrt_version"), sidecar.get("gpu_name"), sidecar.get("compute_capability"))
    here = (tensorrt_version, gpu_name, compute_capability)
    what = ("TensorRT version", "GPU", "compute capability")
    for label, then, now in zip(what, built, here):
        if then != now:
            raise InputError(f"{path}: engine was built for {label} {then}, this machine has {now}; "
                             "TensorRT engines are not portable: rebuild it here with `c2fbench deploy build`")


def read_sidecar(engine: Path) -> dict:
    """The sidecar of ``engine``; InputError if it is missing or not JSON."""
    path = sidecar_path(engine)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: engine sidecar not found (build engines with `c2fbench deploy build`, "
                         "which writes it next to the engine)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def resolve_build_device(device: str | None) -> str | None:
    """``deploy build --device``: None (the current CUDA device, checked when building) or a
    CUDA device present here; ``cpu``, ``gpu`` and absent devices are InputErrors."""
    if device is None:
        return None
    from c2fbench.devices import resolve_device

    device = resolve_device(device)
    if not device.startswith("cuda"):
        raise InputError(f"--device {device}: TensorRT builds engines on an NVIDIA GPU; use --device cuda or cuda:N")
    return device


def current_gpu(device: str = "cuda") -> tuple[str, str]:
    """(name, "major.minor") of the CUDA device; InputError without one."""
    import torch

    if not torch.cuda.is_available():
        raise InputError("TensorRT needs a CUDA GPU, and torch sees none")
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


PRECISIONS = ("fp32", "fp16", "int8")
QUANTIZE_FOR_TENSORRT = "c2fbench deploy quantize --target tensorrt"


def check_graph_precision(onnx_path: Path, precision: str) -> None:
    """InputError unless an engine of ``precision`` can be built from the graph as it is.

    INT8 engines are explicitly quantized: built strongly typed from a Q/DQ graph (TensorRT
    11 has no calibrator and no INT8 flag), whose quantization TensorRT requires signed and
    symmetric (INT8 zero points, all 0; ``reference/deploy-anchors.md`` and TensorRT's
    "Working with Quantized Types"). ONNX Runtime's CPU default, unsigned activations with
    a zero point, is refused with the fix, and so is the QOperator format (QLinearConv ...),
    which TensorRT's parser does not read. A float build of a Q/DQ graph is refused too.
    """
    import onnx

    from c2fbench.data.files import MAX_MODEL_BYTES, check_regular_file

    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    check_regular_file(onnx_path, max_bytes=MAX_MODEL_BYTES, what="ONNX file")
    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # DecodeError and friends: not an ONNX protobuf
        raise InputError(f"{onnx_path}: not a readable ONNX file ({type(e).__name__})") from None
    ops = {n.op_type for n in proto.graph.node}
    qoperator = sorted(op for op in ops if op.startswith("QLinear") or op.endswith("Integer"))
    qdq = bool(ops & {"QuantizeLinear", "DequantizeLinear"})
    if precision != "int8":
        if qdq or qoperator:
            raise InputError(f"{onnx_path}: an INT8 graph (quantized nodes); build it with --precision int8")
        return
    if qoperator:
        raise InputError(f"{onnx_path}: INT8 in ONNX Runtime's QOperator format ({', '.join(qoperator[:3])}), which "
                         f"TensorRT does not read; quantize the FP32 graph with `{QUANTIZE_FOR_TENSORRT}` (Q/DQ)")
    if not qdq:
        raise InputError(f"{onnx_path}: no QuantizeLinear/DequantizeLinear nodes; TensorRT builds INT8 from an "
                         f"explicitly quantized graph: run `{QUANTIZE_FOR_TENSORRT}` on it first")
    points = list(_zero_points(proto))
    unsigned = [node for node, z in points if z.dtype == np.uint8]  # the commonest mistake, named first
    if unsigned:
        raise InputError(f"{onnx_path}: {unsigned[0].op_type} {unsigned[0].name!r} is uint8 (ONNX Runtime's CPU "
                         f"default); TensorRT takes signed, symmetric INT8: quantize with `{QUANTIZE_FOR_TENSORRT}`")
    for node, zero_point in points:
        if zero_point.dtype != np.int8:
            raise InputError(f"{onnx_path}: {node.op_type} {node.name!r} is {zero_point.dtype}; TensorRT quantizes "
                             f"to INT8 only (biases stay FP32): quantize with `{QUANTIZE_FOR_TENSORRT}`")
        if np.any(zero_point != 0):
            raise InputError(f"{onnx_path}: {node.op_type} {node.name!r} has zero point {int(zero_point.flat[0])}; "
                             f"TensorRT quantizes symmetrically (zero point 0): use `{QUANTIZE_FOR_TENSORRT}`")


def _zero_points(proto):
    """(node, zero point array) for every Q/DQ node whose zero point is an initializer or a
    Constant; a node without one has zero point 0 by the ONNX specification."""
    from onnx import numpy_helper

    values = {t.name: t for t in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = node.attribute[0].t
    for node in proto.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 and node.input[2] in values:
            yield node, numpy_helper.to_array(values[node.input[2]])


def fp16_onnx(onnx_path: Path, out: Path) -> Path:
    """An FP16 copy of an FP32 ONNX graph with FP32 inputs and outputs, for TensorRT 11's
    strongly typed networks, by onnxconverter-common's float16 converter (in the
    ``c2fbench[tensorrt]`` extra). The conversion is static (no reference run, so a
    dynamic-shape graph needs no calibration data at any shape).

    The converter keeps ops it cannot trust in FP16 (Resize among them) in FP32 between two
    casts, and when such an op produces a graph output, that output comes out FP16 despite
    ``keep_io_types``; a final Cast restores FP32, which the runtime's buffers expect.
    """
    import warnings

    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise InputError(f"{onnx_path}: TensorRT 11 builds FP16 from an FP16 ONNX graph; install "
                         "onnxconverter-common (pip install 'c2fbench[tensorrt]') to convert it") from None
    with warnings.catch_warnings():  # "float32 number ... will be truncated": expected of FP16
        warnings.simplefilter("ignore", UserWarning)
        model = float16.convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    _outputs_as_float32(model)
    onnx.save(model, str(out))
    return out


def _outputs_as_float32(model) -> None:
    """Append a Cast to FP32 after every FP16 graph output (renaming its producer's output)."""
    from onnx import TensorProto, helper

    for output in model.graph.output:
        if output.type.tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        inner = f"{output.name}_fp16"
        for node in model.graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
        model.graph.node.append(helper.make_node("Cast", [inner], [output.name], to=TensorProto.FLOAT,
                                                 name=f"{output.name}_to_fp32"))
        output.type.tensor_type.elem_type = TensorProto.FLOAT
