"""The GPU check's probes and GPU steps: profile, parity and TensorRT builds.

Every import beyond numpy happens inside a step, so that a step whose package is missing
is the one that says so.
"""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import numpy as np

from benchmarks.gpu_check_base import THRESHOLDS, TORCH_VARIANTS, Check, CheckFailed, Skip

# y = x + x, x: (1, 4) float32, opset 17: the ONNX Runtime CUDA probe's model, written by
# onnx.helper once (onnx itself is not needed where the probe runs).
PROBE_ONNX = base64.b64decode("CAg6QQoOCgF4CgF4EgF5IgNBZGQSBXByb2JlWhMKAXgSDgoMCAESCAoCCAEKAggEYhMKAXkSDgoMCAESCAoCCAEKAggEQgQKABAR")


def probe_tensorrt() -> dict:
    """TensorRT's version, or Skip "no TensorRT"."""
    from c2fbench.errors import InputError
    from deploy.tensorrt import import_tensorrt

    try:
        return {"tensorrt": import_tensorrt().__version__}
    except InputError as e:
        raise Skip(f"no TensorRT ({e})") from None


def probe_cuda(device: str) -> dict:
    """The GPU torch sees (or Skip "no CUDA"); turns TF32 off for the FP32 runs."""
    import torch

    if not torch.cuda.is_available():
        raise Skip("no CUDA: torch.cuda.is_available() is False" +
                   (" (a CPU-only torch)" if torch.version.cuda is None else ""))
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return {"gpu": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}",
            "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "tf32": False,
            "memory_gib": round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1)}


def probe_ort_cuda(device: str) -> dict:
    """A session on ONNX Runtime's CUDA provider, opened and run; Skip when the provider is
    not listed, or is listed but the session got another one: ``get_available_providers``
    lists CUDA whenever onnxruntime-gpu is installed, even when its CUDA or cuDNN libraries
    do not load, and a session then falls back to the CPU with a logged warning only."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    where = f"onnxruntime {onnxruntime.__version__}"
    if "CUDAExecutionProvider" not in available:
        raise Skip(f"no ONNX Runtime CUDA provider ({where}: {', '.join(available)})")
    index = int(device.partition(":")[2] or 0)
    session = onnxruntime.InferenceSession(PROBE_ONNX, providers=[("CUDAExecutionProvider", {"device_id": index}),
                                                                  "CPUExecutionProvider"])
    got = session.get_providers()
    if not got or got[0] != "CUDAExecutionProvider":
        raise Skip(f"no ONNX Runtime CUDA: the provider is listed but a session got {', '.join(got) or 'none'} "
                   f"({where}; its CUDA or cuDNN libraries did not load, see the log)")
    y = session.run(None, {"x": np.ones((1, 4), np.float32)})[0]
    if not np.array_equal(y, np.full((1, 4), 2, np.float32)):
        raise CheckFailed(f"the CUDA probe session computed {y.tolist()} for 1 + 1")
    return {"providers": available, "session_providers": got}


def precision_of(variant: str) -> str:
    """The threshold class of a variant: fp32, fp16 (AMP, TensorRT FP16) or int8."""
    if variant.startswith("torch-amp") or variant == "tensorrt-fp16":
        return "fp16"
    return "int8" if variant == "tensorrt-int8" else "fp32"


def target(check: Check, model: str, shape: tuple, variant: str) -> tuple[Path, str, dict]:
    """(model file, backend, profile_model options) of a variant."""
    if variant in TORCH_VARIANTS:
        amp, channels_last = TORCH_VARIANTS[variant]
        return check.files["checkpoint", model], "torch", {"amp": amp, "channels_last": channels_last}
    if variant == "onnxruntime-cuda":
        return check.files["onnx", model], "onnxruntime", {}
    return check.files["engine", model, shape, variant.split("-")[1]], "tensorrt", {}


def profile(check: Check, model: str, shape: tuple, variant: str) -> dict:
    """One profile_model row of the variant on the GPU."""
    from deploy.profile import profile_model

    path, backend, options = target(check, model, shape, variant)
    row = profile_model(path, backends=[backend], shape=shape, duration_s=check.args.duration,
                        device=check.args.device, **options)["results"][0]
    return {"profile": row}  # an ONNX Runtime that fell back to the CPU is refused by the runtime itself


def runtime_for(check: Check, model: str, shape: tuple, variant: str):
    """The runtime whose ``infer`` gives the variant's logits on the GPU."""
    from c2fbench.inference import load_torch_runtime
    from deploy.runtimes import OnnxRuntime, load_runtime

    path, backend, options = target(check, model, shape, variant)
    if backend == "torch":
        return load_torch_runtime(path, device=check.args.device, **options)
    if backend == "onnxruntime":
        return OnnxRuntime(path, device=check.args.device)  # refuses a silent fall-back to the CPU
    return load_runtime(path, device=check.args.device)


def parity(check: Check, model: str, shape: tuple, variant: str) -> dict:
    """The variant's logits against the reference (ONNX Runtime CPU FP32, or torch CPU FP32)."""
    inputs, expected = check.references[model, shape]
    runtime = runtime_for(check, model, shape, variant)
    return agreement(expected, [runtime.infer(x) for x in inputs], precision_of(variant))


def agreement(expected: list, got: list, precision: str) -> dict:
    """Max and mean |diff| and argmax agreement (%) over the inputs; CheckFailed below the
    precision's threshold or with non-finite logits (INT8: reported only)."""
    from deploy.export import compare_logits

    checks = [compare_logits(e, g, what=f"N(0, 1) input {i}") for i, (e, g) in enumerate(zip(expected, got))]
    threshold = THRESHOLDS[precision]
    result = {"precision": precision, "threshold": threshold,
              "max_abs_diff": max(c["max_abs_diff"] for c in checks),
              "mean_abs_diff": float(np.mean([c["mean_abs_diff"] for c in checks])),
              "argmax_agreement": float(np.mean([c["argmax_agreement"] for c in checks])),
              "min_argmax_agreement": min(c["argmax_agreement"] for c in checks),
              "nonfinite": int(sum((~np.isfinite(g)).sum() for g in got)), "inputs": checks}
    if threshold is None:
        result["note"] = "INT8: reported only"
    elif result["nonfinite"]:
        raise CheckFailed(f"{result['nonfinite']} non-finite logits ({precision})", result)
    elif not result["argmax_agreement"] >= threshold:
        raise CheckFailed(f"argmax agreement {result['argmax_agreement']:.3f}% < {threshold}% ({precision})", result)
    return result


def build(check: Check, model: str, shape: tuple, precision: str) -> dict:
    """A TensorRT engine of ``precision`` for exactly ``shape``. The builder reads the ONNX
    file with ``onnx`` (deploy/tensorrt_build.py), and TensorRT 11 converts FP16 with
    onnxconverter-common: skipped where they are not installed."""
    missing = [p for p in ("onnx", "onnxconverter_common") if importlib.util.find_spec(p) is None
               and (p == "onnx" or precision == "fp16" and tensorrt_major() >= 11)]
    if missing:
        raise Skip(f"TensorRT {precision} builds need {' and '.join(missing)}, not installed here")
    from deploy.tensorrt_build import build_engine

    source = check.files["int8" if precision == "int8" else "onnx", model]
    engine = check.scratch / f"{model}-{'x'.join(map(str, shape))}-{precision}.engine"
    sidecar = build_engine(source, engine, precision=precision, min_shape=shape, opt_shape=shape, max_shape=shape,
                           device=check.args.device, timing_cache=check.out / "tensorrt_timing.cache")
    check.files["engine", model, shape, precision] = engine
    keep = ("tensorrt_version", "precision", "fp16_mode", "tf32", "strongly_typed", "shapes", "int8_float_layers",
            "fp16_clamped", "timing_cache", "engine")
    return {"sidecar": {k: sidecar.get(k) for k in keep}, "mb": round(engine.stat().st_size / 2**20, 1)}


def tensorrt_major() -> int:
    from deploy.tensorrt import import_tensorrt

    return int(import_tensorrt().__version__.split(".")[0])
