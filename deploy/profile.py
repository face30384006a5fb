"""Latency profiling: warm-up by time, timed iterations interleaved, statistics, profile.json.

Method (trtexec's, ``reference/deploy-anchors.md`` §2): one fixed random input of the
requested shape; warm-up runs for ``warmup_ms`` (trtexec: 200 ms); then timed runs until
both ``iterations`` (trtexec: 10) runs and ``duration_s`` seconds (trtexec: 3 s) are done.
Every run waits for its result before the next starts, and is timed on the host with
``time.perf_counter``: the ``*_ms`` statistics are host wall time per inference, and
``throughput_ips`` is images over the timed loop's total wall time, as trtexec's.

On CUDA (torch and TensorRT) each run is split into :class:`c2fbench.inference.Steps`, and
CUDA events recorded on the runtime's stream between them give trtexec's GPU figures:
``h2d``, ``compute`` (GPU compute time, the events around the enqueue alone; ``gpu_median_ms``
is its median), ``d2h`` and ``latency`` (H2D + compute + D2H), plus ``enqueue`` (host time
of the launch call). The stream is synchronised after the last event, never between the
events. ``cuda_graph`` replays a captured graph instead of launching kernels one by one.
ONNX Runtime on the CPU copies and computes in one synchronous call, so its rows have host
time only; on CUDA it runs through I/O binding on the runtime's own stream and gets the same
event figures, with ``enqueue`` the whole run (ONNX Runtime waits for its stream). Unlike
trtexec, which keeps two inferences in flight on two streams so that copies overlap
compute, one run is in flight at a time, so ``throughput_ips`` is at most 1 / latency. Several backends (and model files) in one call share the input and the thread
count, and take turns run by run (:mod:`deploy.timing`), so their ratios come from one run
and a busy neighbour slows them alike; a row whose spread still shows interference is
marked ``unstable``, and so is every ratio taken from it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path

from c2fbench.files import MAX_MODEL_BYTES, check_regular_file
from c2fbench.errors import InputError
from deploy import DURATION_S, ITERATIONS, PROFILE_SHAPE, WARMUP_MS, WARMUP_RUNS
from c2fbench.inference import Runtime
from c2fbench.numerics import numerics

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def parse_shape(text: str) -> tuple[int, int, int, int]:
    """"1x3x321x321" -> (1, 3, 321, 321); InputError unless B x 3 x H x W with positive sizes
    and at most :data:`c2fbench.data.images.MAX_PIXELS` pixels in the batch (the largest image
    c2fbench reads; 1x3x100000x100000 would ask for 224 GiB of random input)."""
    from c2fbench.data.images import MAX_PIXELS

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


def profile_model(model, *, more_models: Sequence[Path] = (), backends: list[str] | None = None, shape=PROFILE_SHAPE,
                  warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS, iterations: int = ITERATIONS,
                  duration_s: float = DURATION_S, threads: int | None = None, device: str = "cpu",
                  cuda_graph: bool = False, amp: bool = False, channels_last: bool = False,
                  weights: Path | None = None, override=None, advance=lambda name: None,
                  announce=lambda threads, why: None) -> dict:
    """The profile.json content for ``model`` (.pt, .onnx or .engine) and ``more_models`` on
    each backend, all timed interleaved (:func:`deploy.timing.time_runtimes`).

    A checkpoint runs on ``torch`` directly (``amp`` and ``channels_last`` apply there); for
    ``onnxruntime`` it is first exported to a temporary static ONNX file of ``shape`` (and
    for ``tensorrt`` built into an engine). ``cuda_graph`` applies to torch and TensorRT on
    CUDA. Default backends of each file: ``torch`` and ``onnxruntime`` for a checkpoint, the
    file's own otherwise (``torch`` for torchvision, which is profiled alone).

    Every backend runs with the same ``threads``: the caller's, else
    :func:`c2fbench.threads.default_threads` (the CPUs this process may use), never a count
    read from the load; ``announce(threads, why)`` is called with it once the options are
    checked, before any model loads. Each row's ``vs`` holds its speed-up ratios: against the
    first row, and for an INT8 row against the ONNX Runtime FP32 row, each marked ``unstable``
    when either side is (:func:`deploy.timing.stability`).

    Latency needs no class names: an ONNX file without c2fbench metadata is timed as it is
    (``override``, a :class:`deploy.foreign.MetadataOverride`, is still checked against a
    file that has some). ``torchvision:NAME`` with ``weights`` runs on torch only.
    """
    from c2fbench import __version__
    from c2fbench.files import file_sha256
    from c2fbench.threads import default_threads
    from deploy.runtimes import TORCHVISION_PREFIX
    from deploy.timing import UNSTABLE_RULE, time_runtimes

    foreign = str(model).startswith(TORCHVISION_PREFIX)
    if foreign and more_models:
        raise InputError(f"--model {model} is profiled alone; export it to ONNX to time it beside other models")
    if not foreign and weights is not None:
        raise InputError(f"--weights is for --model torchvision:NAME; {model} holds its own weights")
    models = [model] if foreign else [Path(m) for m in (model, *more_models)]
    seen = [os.path.realpath(m) for m in models]
    for i, path in enumerate(seen):
        if path in seen[:i]:
            raise InputError(f"--model {models[i]}: given twice (the same file as {models[seen.index(path)]})")
    plans = [_plan(m, backends, foreign=foreign) for m in models]
    check_options([b for _, _, bs in plans for b in bs], device=device, cuda_graph=cuda_graph, amp=amp,
                  channels_last=channels_last)
    threads_from = "--threads" if threads else "default: the CPUs this process may use"
    threads = threads or default_threads()
    announce(threads, threads_from)
    timing: dict = {"warmup_ms": warmup_ms, "warmup": warmup, "iterations": iterations, "duration_s": duration_s}
    rows: list[dict] = []
    runtimes: list[Runtime] = []
    with tempfile.TemporaryDirectory(prefix="c2fbench-profile-") as tmp:
        for i, (path, kind, names) in enumerate(plans):
            sha = file_sha256(weights if foreign else path)
            own_tmp = Path(tmp) / str(i)  # each file's conversions apart: two files may share a name
            own_tmp.mkdir()
            for backend in names:
                if foreign:
                    from deploy.torchvision_models import load_torchvision_runtime

                    runtime = load_torchvision_runtime(str(path)[len(TORCHVISION_PREFIX):], weights, device=device,
                                                       threads=threads, override=override, amp=amp,
                                                       channels_last=channels_last)
                else:
                    runtime = _runtime_for(path, kind, backend, shape=shape, threads=threads, device=device,
                                           tmp=own_tmp, amp=amp, channels_last=channels_last, override=override)
                runtimes.append(runtime)
                rows.append({"backend": backend, "precision": runtime.precision, "model": str(path) if foreign
                             else str(path.resolve()), "sha256": sha, "shape": list(shape), "threads": threads,
                             "device": _device_name(device), "versions": runtime.versions,
                             "memory_format": runtime.memory_format})
        timed = time_runtimes(runtimes, shape, cuda_graphs=[cuda_graph and r["backend"] != "onnxruntime" for r in rows],
                              **timing)
    for row, result in zip(rows, timed):
        row.update(result)
        advance(row["backend"])
    add_ratios(rows)
    first = models[0]
    return {"results": rows, "c2fbench_version": __version__, "threads": threads, "threads_from": threads_from,
            "source": ({"model": str(first), "weights": str(Path(weights).resolve()), "sha256": rows[0]["sha256"]}
                       if foreign else {"model": str(first.resolve()), "sha256": rows[0]["sha256"]}),
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": _machine(), "numerics": numerics(),  # what decides the times too: threads, wait policy, ISA
            "timing": {**timing, "unstable_if": UNSTABLE_RULE, "method": (
                "trtexec: warm-up by time, then at least `iterations` runs and `duration_s` seconds per backend; "
                "one run at a time, the backends interleaved (each cycle gives each backend one untimed run, then 3 "
                "timed ones; same input, same threads; OpenMP's default wait policy); "
                "trtexec keeps two runs in flight on separate streams, overlapping copies with compute, so its "
                "throughput can exceed these")}}


def _plan(model, backends: list[str] | None, *, foreign: bool) -> tuple:
    """(model, its kind, the backends it runs on) for one ``--model``; InputError if unfit."""
    from deploy.runtimes import SUFFIXES

    if foreign:
        if backends and set(backends) != {"torch"}:
            raise InputError(f"--model {model} runs on the torch backend only; export it to ONNX to time it there")
        return model, "torch", ["torch"]
    kind = SUFFIXES.get(model.suffix.lower())
    if kind is None:
        raise InputError(f"{model}: expected an existing .pt, .onnx or .engine file, or torchvision:NAME")
    check_regular_file(model, max_bytes=MAX_MODEL_BYTES, what="model file")
    default = ["torch", "onnxruntime"] if kind == "torch" else [kind]
    return model, kind, list(dict.fromkeys(backends or default))


def add_ratios(rows: list[dict]) -> None:
    """Each row's ``vs``: its speed-up (other median / own median, above 1: faster) against the
    first row, and for an INT8 row against the ONNX Runtime FP32 row of the same run (what
    INT8 is for), each ``unstable`` when either measurement is. The other row is named in
    full, so that the ratio keeps its meaning in a file that holds this row alone."""
    fp32 = next((r for r in rows if r["backend"] == "onnxruntime" and r["precision"] == "fp32"), None)
    for row in rows:
        against = [rows[0]] if row is not rows[0] else []
        if row["precision"] == "int8" and fp32 is not None and fp32 is not rows[0]:
            against.append(fp32)
        row["vs"] = [{"backend": other["backend"], "precision": other["precision"], "model": other["model"],
                      "median_ms": other["median_ms"],
                      "ratio": other["median_ms"] / row["median_ms"] if row["median_ms"] > 0 else None,
                      "unstable": bool(other["unstable"] or row["unstable"])} for other in against]


def check_options(backends: list[str], *, device: str, cuda_graph: bool, amp: bool, channels_last: bool) -> None:
    """InputError for options that would not apply to any requested backend (asked for and
    silently ignored, they would mislabel the figures)."""
    if cuda_graph and not str(device).startswith("cuda"):
        raise InputError(f"--cuda-graph needs --device cuda (this run is on {device})")
    if cuda_graph and not set(backends) & {"torch", "tensorrt"}:
        raise InputError("--cuda-graph applies to the torch and tensorrt backends; ONNX Runtime runs without")
    for flag, on in (("--amp", amp), ("--channels-last", channels_last)):
        if on and "torch" not in backends:
            raise InputError(f"{flag} applies to the torch backend (a checkpoint run by PyTorch); "
                             f"the backends here are {', '.join(backends)}")


def _runtime_for(model: Path, kind: str, backend: str, *, shape, threads: int, device: str, tmp: Path,
                 amp: bool = False, channels_last: bool = False, override=None) -> Runtime:
    """The runtime that runs ``model`` on ``backend``, converting it when needed: checkpoint
    -> ONNX (static, ``shape``) -> TensorRT engine. Nothing converts back (an engine runs only
    on TensorRT, an ONNX file not on torch)."""
    from deploy.runtimes import OnnxRuntime, load_runtime

    order = {"torch": 0, "onnxruntime": 1, "tensorrt": 2}
    if backend not in order:
        raise InputError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "torch" and kind == "torch":
        from c2fbench.inference import load_torch_runtime

        return load_torch_runtime(model, device=device, threads=threads, amp=amp, channels_last=channels_last)
    if backend == kind:
        return load_runtime(model, device=device, threads=threads, override=override,
                            metadata_optional=backend == "onnxruntime")
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
    from deploy.tensorrt import TensorRTRuntime
    from deploy.tensorrt_build import build_engine

    engine = tmp / f"{model.stem}.engine"
    # the device made current for the build too (--device cuda:1); a file without c2fbench
    # metadata builds as well, since latency needs no class names
    build_engine(onnx_path, engine, precision="fp32", opt_shape=tuple(shape), device=device, metadata_optional=True)
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


def profile_of(profile: dict, model: Path) -> dict:
    """The part of ``profile`` (several model files timed together) that is ``model``'s: its
    rows, with ``model`` as the ``source``. Each row's ``vs`` still names the rows of the
    other files it was timed against, so its ratios keep their meaning."""
    path = str(Path(model).resolve())
    rows = [r for r in profile["results"] if r["model"] == path]
    if not rows:
        raise ValueError(f"{model} is not one of the profiled models")
    return {**profile, "results": rows, "source": {"model": path, "sha256": rows[0]["sha256"]}}


def write_profile(out: Path, profile: dict) -> Path:
    """``out/profile.json``, atomically."""
    from c2fbench.atomic import atomic_write_text

    path = Path(out) / "profile.json"
    atomic_write_text(path, json.dumps(profile, indent=2) + "\n")
    return path
