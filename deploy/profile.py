"""Latency profiling: warm-up, timed iterations, statistics, profile.json.

Method (after trtexec, nanoGPT's bench.py and mmdeploy's profiler, see
``reference/deploy-anchors.md``): one fixed random input of the requested shape, already
where the backend wants it; ``warmup`` untimed runs; then ``iterations`` runs, each timed on
the host with ``time.perf_counter`` around one inference that returns only when the output
is ready (the runtime synchronises CUDA itself). On CUDA, torch and TensorRT runs are also
bracketed by CUDA events on the current stream: ``gpu_median_ms`` is the GPU's own time,
without host overhead. Throughput is images over total timed host wall time, like
trtexec's. Several backends in one call share the input, so their ratios come from one run.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from c2fbench.data.files import MAX_MODEL_BYTES, check_regular_file
from c2fbench.errors import InputError

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def latency_stats(times_ms, *, batch: int) -> dict:
    """Statistics of per-iteration host times (ms) for ``batch`` images per iteration.

    Percentiles interpolate linearly between order statistics (numpy's default), and
    ``throughput_ips`` is ``batch * len(times) / sum(times)`` in images per second.
    """
    t = np.asarray(list(times_ms), dtype=np.float64)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("latency_stats needs at least one finite, non-negative time")
    return {"iterations": int(t.size), "mean_ms": float(t.mean()), "median_ms": float(np.median(t)),
            "p90_ms": float(np.percentile(t, 90)), "p99_ms": float(np.percentile(t, 99)),
            "min_ms": float(t.min()), "max_ms": float(t.max()),
            "throughput_ips": float(batch * t.size / (t.sum() / 1000.0)) if t.sum() > 0 else float("inf")}


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """"1x3x321x321" -> (1, 3, 321, 321); InputError unless B x 3 x H x W with positive sizes
    and at most :data:`c2fbench.data.files.MAX_PIXELS` pixels in the batch (the largest image
    c2fbench reads; 1x3x100000x100000 would ask for 224 GiB of random input)."""
    from c2fbench.data.files import MAX_PIXELS

    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 4 or shape[1] != 3 or min(shape) < 1:
        raise InputError(f"--shape {text!r}: expected BxCxHxW with C = 3, e.g. 1x3x321x321")
    if shape[0] * shape[2] * shape[3] > MAX_PIXELS:
        raise InputError(f"--shape {text!r}: {shape[0] * shape[2] * shape[3]:,} pixels in the batch, more than the "
                         f"{MAX_PIXELS:,} accepted (B x H x W)")
    return shape


def time_runtime(runtime, shape: tuple[int, ...], *, warmup: int = 10, iterations: int = 50,
                 seed: int | None = None) -> dict:
    """Time ``runtime.prepare(x)()`` on one random (B, 3, H, W) input; :func:`latency_stats`
    plus ``gpu_median_ms`` (CUDA events) when the runtime runs on CUDA through torch streams."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    run = runtime.prepare(x)
    for _ in range(warmup):
        run()
    events = _cuda_events(runtime, iterations)
    stream = getattr(runtime, "stream", None)  # TensorRT runs on a stream of its own; torch on the current one
    host = []
    for i in range(iterations):
        start = time.perf_counter()
        if events:
            events[i][0].record(stream)
        run()
        if events:
            events[i][1].record(stream)
        host.append((time.perf_counter() - start) * 1000.0)
    result = latency_stats(host, batch=shape[0])
    if events:
        events[-1][1].synchronize()
        result["gpu_median_ms"] = float(np.median([a.elapsed_time(b) for a, b in events]))
    return result


def _cuda_events(runtime, n: int) -> list:
    """Pairs of timing events when ``runtime`` runs on torch's current CUDA stream, else []."""
    if not str(runtime.device).startswith("cuda") or runtime.backend == "onnxruntime":
        return []  # ORT's CUDA provider runs on its own stream: host time only
    import torch

    return [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]


def profile_model(model: Path, *, backends: list[str] | None = None, shape=(1, 3, 321, 321), warmup: int = 10,
                  iterations: int = 50, threads: int | None = None, device: str = "cpu",
                  advance=lambda name: None) -> dict:
    """The profile.json content for ``model`` (.pt, .onnx or .engine) on each backend.

    A checkpoint runs on ``torch`` directly; for ``onnxruntime`` it is first exported to a
    temporary static ONNX file of ``shape`` (and for ``tensorrt`` built into an engine).
    Default backends: ``torch`` and ``onnxruntime`` for a checkpoint, the file's own otherwise.
    """
    from c2fbench import __version__
    from c2fbench.inference import file_sha256
    from deploy.runtimes import SUFFIXES

    model = Path(model)
    kind = SUFFIXES.get(model.suffix.lower())
    if kind is None:
        raise InputError(f"{model}: expected an existing .pt, .onnx or .engine file")
    check_regular_file(model, max_bytes=MAX_MODEL_BYTES, what="model file")
    backends = list(dict.fromkeys(backends or (["torch", "onnxruntime"] if kind == "torch" else [kind])))
    threads = threads or os.cpu_count() or 1
    results = []
    with tempfile.TemporaryDirectory(prefix="c2fbench-profile-") as tmp:
        for backend in backends:
            runtime = _runtime_for(model, kind, backend, shape=shape, threads=threads, device=device, tmp=Path(tmp))
            timing = time_runtime(runtime, shape, warmup=warmup, iterations=iterations)
            results.append({"backend": backend, "precision": runtime.precision, "shape": list(shape),
                            "threads": threads, "device": _device_name(device), "versions": runtime.versions,
                            **timing})
            advance(backend)
    return {"results": results, "c2fbench_version": __version__,
            "source": {"model": str(model.resolve()), "sha256": file_sha256(model)},
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": _machine(), "warmup": warmup}


def _runtime_for(model: Path, kind: str, backend: str, *, shape, threads: int, device: str, tmp: Path):
    """The runtime that runs ``model`` on ``backend``, converting it when needed: checkpoint
    -> ONNX (static, ``shape``) -> TensorRT engine. Nothing converts back (an engine runs only
    on TensorRT, an ONNX file not on torch)."""
    from deploy.runtimes import OnnxRuntime, load_runtime

    order = {"torch": 0, "onnxruntime": 1, "tensorrt": 2}
    if backend not in order:
        raise InputError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == kind:
        return load_runtime(model, device=device, threads=threads)
    if order[backend] < order[kind]:
        needs = "a checkpoint (.pt)" if backend == "torch" else "a checkpoint (.pt) or an ONNX file"
        raise InputError(f"{model}: the {backend} backend needs {needs}, not a {model.suffix} file")
    onnx_path = model
    if kind == "torch":
        from deploy.export import export_onnx

        onnx_path = tmp / f"{model.stem}.onnx"
        if not onnx_path.exists():
            export_onnx(model, onnx_path, height=shape[2], width=shape[3], verify=False)
        if backend == "onnxruntime":
            return OnnxRuntime(onnx_path, device=device, threads=threads)
    from deploy.tensorrt_build import TensorRTRuntime, build_engine

    engine = tmp / f"{model.stem}.engine"
    build_engine(onnx_path, engine, precision="fp32", opt_shape=tuple(shape))
    return TensorRTRuntime(engine, device=device)


def _device_name(device: str) -> str:
    if not device.startswith("cuda"):
        return f"cpu ({platform.processor() or platform.machine()})"
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    major, minor = torch.cuda.get_device_capability(index)
    return f"{device} ({torch.cuda.get_device_name(index)}, sm_{major}{minor})"


def _machine() -> dict:
    """Where the numbers come from; the load average says whether other work shared the CPU."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average_1m": round(load[0], 2) if load else None}


def write_profile(out: Path, profile: dict) -> Path:
    """``out/profile.json``, atomically."""
    from c2fbench.data.atomic import atomic_write_text

    path = Path(out) / "profile.json"
    atomic_write_text(path, json.dumps(profile, indent=2) + "\n")
    return path
