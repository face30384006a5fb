"""Building a TensorRT engine from an exported ONNX file, and the checks that come first.

Written against the TensorRT 10 and 11 Python API (``reference/deploy-anchors.md`` §1):
``Builder`` -> ``create_network(0)`` -> ``OnnxParser`` (TensorRT's plugins registered first,
with the process's one logger: :func:`deploy.tensorrt.tensorrt_logger`) -> builder config with
a WORKSPACE memory-pool limit, an optimisation profile for dynamic height/width
(:func:`shape_profile`) and a timing cache file (one from another GPU, driver or TensorRT is
replaced by an empty one, with a warning) -> ``build_serialized_network``.

Precision. INT8: a Q/DQ graph (``deploy quantize --target tensorrt``: signed, symmetric;
:func:`check_graph_precision` refuses graphs TensorRT would reject or misread). On TensorRT
10 it is built with ``BuilderFlag.INT8`` and ``FP16``, as ``trtexec --int8 --fp16``: the
layers outside Q/DQ may run in FP16, so that INT8 is compared with FP16 on equal terms; on
TensorRT 11 (strongly typed, no precision flags) they run in the graph's FP32. The sidecar's
``int8_float_layers`` says which. FP16: TensorRT 10 has ``BuilderFlag.FP16``; TensorRT 11
removed it, so there the ONNX graph itself is converted to FP16 first (:func:`fp16_onnx`)
and built as is. An FP32 build clears ``BuilderFlag.TF32`` (on by default from Ampere on, it
breaks FP32 parity with ONNX Runtime); the sidecar records ``tf32``.

The ONNX file's metadata and input are read with ``onnx`` (:func:`deploy.onnx_meta.read_onnx`),
and the sidecar (:mod:`deploy.tensorrt`) records what the runtime checks, the engine's
sha256 among them. Only :func:`build_engine` needs TensorRT and a GPU.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.files import file_sha256
from deploy import DEFAULT_PROFILE, WORKSPACE_MB
from deploy.onnx_meta import Node, load_onnx, read_onnx
from deploy.tensorrt import FORMAT, checked, current_gpu, device_index, import_tensorrt, sidecar_path, tensorrt_logger


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
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    proto = load_onnx(onnx_path)
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


def fp16_onnx(onnx_path: Path, out: Path) -> tuple[Path, dict]:
    """``(out, clamped)``: an FP16 copy of an FP32 ONNX graph with FP32 inputs and outputs,
    for TensorRT 11's strongly typed networks, by onnxconverter-common's float16 converter
    (in the ``c2fbench[tensorrt]`` extra). The conversion is static (no reference run, so a
    dynamic-shape graph needs no calibration data at any shape).

    The converter clamps weights to a range it trusts: |w| >= 1e4 to 1e4 (which changes the
    model: a warning, as ``large``) and 0 < |w| <= 1e-7 to 1e-7 (below FP16's precision
    anyway: recorded as ``tiny``); ``clamped`` counts the tensors of each. NVIDIA's
    documented TensorRT 11 route is ModelOpt AutoCast. The converter keeps ops it cannot
    trust in FP16 (Resize among them) in FP32 between two casts, and when such an op
    produces a graph output, that output comes out FP16 despite ``keep_io_types``; a final
    Cast restores FP32.
    """
    import warnings

    import onnx

    from c2fbench.console import warn

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise InputError(f"{onnx_path}: TensorRT 11 builds FP16 from an FP16 ONNX graph; install "
                         "onnxconverter-common (pip install -e '.[tensorrt]' in the c2fbench checkout) to "
                         "convert it") from None
    with warnings.catch_warnings(record=True) as caught:  # "the float32 number X will be truncated to Y"
        warnings.simplefilter("always", UserWarning)
        model = float16.convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    clamped = clamp_counts([str(w.message) for w in caught])
    if clamped["large"]:
        warn(f"{onnx_path}: FP16 conversion clamped {clamped['large']} weight tensor(s) with |w| >= 1e4 to 1e4 "
             "(onnxconverter-common's limit): the FP16 engine computes another model; check it with "
             "`c2fbench deploy parity`")
    _outputs_as_float32(model)
    onnx.save(model, str(out))
    return out, clamped


def clamp_counts(messages: list[str]) -> dict:
    """``{"large", "tiny"}``: how many of onnxconverter-common's "the float32 number X will
    be truncated to Y" warnings clamp to |Y| >= 1 (the 1e4 limit) and to |Y| < 1 (1e-7)."""
    counts = {"large": 0, "tiny": 0}
    for message in messages:
        if "will be truncated to" in message:
            try:
                limit = abs(float(message.rsplit(" ", 1)[1]))
            except ValueError:
                limit = float("inf")
            counts["large" if limit >= 1 else "tiny"] += 1
    return counts


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


def check_build_paths(onnx_path: Path, out: Path, timing_cache: Path | None) -> None:
    """InputError unless the engine ``out``, its sidecar ``out.json`` and the ``timing_cache``
    (read, then written) lie apart from the ONNX file they are built from and from each
    other: each is written after the build, over whatever is there."""
    from c2fbench.files import check_output_apart

    check_output_apart(out, {"--onnx": onnx_path, "--timing-cache": timing_cache})
    check_output_apart(sidecar_path(out), {"--onnx": onnx_path, "--timing-cache": timing_cache},
                       option="--out's sidecar")
    if timing_cache is not None:
        check_output_apart(timing_cache, {"--onnx": onnx_path}, option="--timing-cache")


def build_engine(onnx_path: Path, out: Path, *, precision: str = "fp32", workspace_mb: int = WORKSPACE_MB,
                 min_shape=None, opt_shape=None, max_shape=None, timing_cache: Path | None = None,
                 device: str = "cuda", metadata_optional: bool = False) -> dict:
    """Build ``out`` (serialized engine) and ``out.json`` (sidecar) from ``onnx_path`` on the
    CUDA ``device``, made current while TensorRT builds for it. ``metadata_optional`` builds
    a file without c2fbench metadata too, for latency alone (the sidecar's classes and
    normalisation are None, as ``deploy profile`` needs)."""
    check_build_paths(onnx_path, out, timing_cache)
    trt = import_tensorrt()
    import torch

    meta, node = read_graph(onnx_path, metadata_optional=metadata_optional)
    check_graph_precision(onnx_path, precision)
    profile = shape_profile(node.shape, min_shape=min_shape, opt_shape=opt_shape, max_shape=max_shape)
    gpu_name, capability = current_gpu(device)
    with torch.cuda.device(device_index(device)), tempfile.TemporaryDirectory(prefix="c2fbench-trt-") as tmp:
        logger = tensorrt_logger()  # plugins registered before the parse
        builder = trt.Builder(logger)
        flags = hasattr(trt.BuilderFlag, "FP16")  # TensorRT 10: precision flags; 11: strongly typed only
        network = builder.create_network(0)  # explicit batch is the only mode since TensorRT 10
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
        source, clamped = Path(onnx_path), None
        if precision == "fp16" and not flags:  # TensorRT 11: strongly typed, FP16 graph
            source, clamped = fp16_onnx(onnx_path, Path(tmp) / "fp16.onnx")
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(source)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise InputError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors[:400]}")
        fp16_allowed = flags and precision in ("fp16", "int8")
        if flags and precision == "int8":  # trtexec --int8 --fp16: Q/DQ layers in INT8, the rest FP16 or FP32
            config.set_flag(trt.BuilderFlag.INT8)
        if fp16_allowed:
            config.set_flag(trt.BuilderFlag.FP16)
        if not (fp16_allowed or precision == "fp16") and hasattr(trt.BuilderFlag, "TF32"):
            # TensorRT enables TF32 by default on Ampere and newer: 10-bit mantissas in FP32
            # convolutions, which break FP32 parity with ONNX Runtime. An FP32 build means FP32
            # (and so do the FP32 layers of a strongly typed INT8 graph, such as its classifier).
            config.clear_flag(trt.BuilderFlag.TF32)
        tf32 = bool(config.get_flag(trt.BuilderFlag.TF32)) if hasattr(trt.BuilderFlag, "TF32") else False
        optimisation = builder.create_optimization_profile()
        optimisation.set_shape(node.name, profile["min"], profile["opt"], profile["max"])
        config.add_optimization_profile(optimisation)
        cache_state = set_timing_cache(config, timing_cache, onnx_path=onnx_path)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise InputError(f"{onnx_path}: TensorRT could not build an engine (see the messages above)")
        engine = bytes(plan)
        cache = bytes(config.get_timing_cache().serialize()) if timing_cache else None
    from c2fbench import __version__

    sidecar = {"format": FORMAT, "tensorrt_version": trt.__version__, "gpu_name": gpu_name,
               "compute_capability": capability, "precision": precision,
               "fp16_mode": None if precision != "fp16" else ("builder flag" if flags else "fp16 onnx"),
               "fp16_clamped": clamped,
               "int8_float_layers": None if precision != "int8" else ("fp16+fp32" if fp16_allowed else "fp32"),
               "tf32": tf32, "strongly_typed": not flags,
               "input": node.name, "shapes": {k: list(v) for k, v in profile.items()},
               "workspace_mb": workspace_mb, "timing_cache": cache_state,
               "classes": meta["classes"], "normalization": meta["normalization"],
               "engine": {"sha256": hashlib.sha256(engine).hexdigest(), "bytes": len(engine)},
               "onnx": {"path": str(Path(onnx_path).resolve()), "sha256": file_sha256(onnx_path)},
               "c2fbench_version": __version__,
               "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_engine(out, engine, sidecar, timing_cache=timing_cache, cache=cache)
    return sidecar


def read_graph(onnx_path: Path, *, metadata_optional: bool = False) -> tuple[dict, Node]:
    """``(metadata, input node)`` by :func:`deploy.onnx_meta.read_onnx`; with
    ``metadata_optional``, a file without c2fbench metadata gives classes and normalisation
    None (a file with some is still checked)."""
    from deploy.onnx_meta import _dims, check_input

    if metadata_optional:
        proto = load_onnx(onnx_path)
        if not {p.key for p in proto.metadata_props} & {"c2fbench.classes", "c2fbench.normalization"}:
            initializers = {t.name for t in proto.graph.initializer}
            inputs = [Node(i.name, _dims(i)) for i in proto.graph.input if i.name not in initializers]
            return {"classes": None, "normalization": None}, check_input(inputs, path=onnx_path)
    return read_onnx(onnx_path)


def set_timing_cache(config, timing_cache: Path | None, *, onnx_path: Path) -> str | None:
    """Give the builder ``config`` the timing cache read from ``timing_cache`` (an empty one
    when there is no file) and say which: None (no file asked for), "new", "reused", or
    "replaced": a cache from another GPU, driver or TensorRT version (or a damaged file),
    refused by ``set_timing_cache(ignore_mismatch=False)``, is replaced by an empty one with
    a warning rather than failing every build after an upgrade."""
    data = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b""
    state = None if timing_cache is None else "reused" if data else "new"
    if data:
        try:
            cache = config.create_timing_cache(data)
        except RuntimeError:  # a blob TensorRT cannot read at all
            cache = None
        if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
            return state
        from c2fbench.console import warn

        warn(f"{timing_cache}: timing cache from another GPU, driver or TensorRT version (or damaged); "
             "building with an empty one, which replaces it")
        state = "replaced"
    cache = config.create_timing_cache(b"")
    checked(cache is not None and config.set_timing_cache(cache, ignore_mismatch=False),
            Path(timing_cache or onnx_path), "set_timing_cache")
    return state


def write_engine(out: Path, engine: bytes, sidecar: dict, *, timing_cache: Path | None, cache: bytes | None) -> None:
    """Write the engine ``out`` and its sidecar so that they never disagree: the old sidecar
    goes first (a failure then leaves an engine without one, which the runtime refuses, never
    a new engine beside an old sidecar), each lands atomically, and the sidecar records the
    engine's sha256, which the runtime checks. The timing cache comes last: it is not part of
    the pair."""
    from c2fbench.atomic import atomic_write_bytes, atomic_write_text, storage_error

    try:
        sidecar_path(out).unlink(missing_ok=True)
    except OSError as e:
        raise storage_error(sidecar_path(out), e) from None
    atomic_write_bytes(out, engine)
    atomic_write_text(sidecar_path(out), json.dumps(sidecar, indent=2) + "\n")
    if timing_cache is not None and cache is not None:
        atomic_write_bytes(timing_cache, cache)
