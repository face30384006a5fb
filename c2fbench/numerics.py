"""What decides a run's floating-point results, recorded beside every result.

Two runs of the same command give the same floats only where these agree:

- the torch thread counts: oneDNN and ATen split reductions (a convolution's weight
  gradient, a batch norm's sums) by thread, so 1 and 2 threads add in other orders;
- the instruction set the kernels were chosen for: oneDNN picks AVX-512 or AVX2 kernels
  when it first runs, ATen its "CPU capability", and each sums in its own order;
- the library versions (torch, numpy, OpenCV's GrabCut, ONNX Runtime for deployed models).

``--workers`` is recorded too, though it does not change results: each image of a masks job
is computed alone, with its own seed (c2fbench/masks/runner.py), in whichever process.

oneDNN reports its instruction set only in its verbose log (``ONEDNN_VERBOSE=1``); here it
is read off the CPU's flags as oneDNN ranks them, capped by ``ONEDNN_MAX_CPU_ISA`` as
oneDNN caps it (a test compares the two on the machine it runs on).
"""

from __future__ import annotations

import os
import platform
import sys

# oneDNN's instruction sets for x86-64, from the least to the most capable, each with the
# /proc/cpuinfo flags it needs (oneDNN's cpu_isa_t; the names ONEDNN_MAX_CPU_ISA takes)
ONEDNN_ISAS = (
    ("SSE41", {"sse4_1"}),
    ("AVX", {"avx"}),
    ("AVX2", {"avx2", "fma"}),
    ("AVX2_VNNI", {"avx2", "fma", "avx_vnni"}),
    ("AVX512_CORE", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("AVX512_CORE_VNNI", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}),
    ("AVX512_CORE_BF16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}),
    ("AVX512_CORE_AMX", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16",
                         "amx_tile", "amx_int8", "amx_bf16"}),
)

# what the environment can set that changes the floats or the speed of the numerics
ENVIRONMENT = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
               "ATEN_CPU_CAPABILITY", "MKL_NUM_THREADS")


def _cpuinfo(field: str) -> str | None:
    """The value of ``field`` for the first CPU in /proc/cpuinfo; None where unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The instruction-set flags of the first CPU (empty where unreadable)."""
    return set((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def onednn_isa(flags: set[str] | None = None, cap: str | None = None) -> str:
    """The instruction set oneDNN's CPU kernels use here: the most capable one whose flags
    the CPU has, no higher than ``cap`` (default: ``ONEDNN_MAX_CPU_ISA``, or its older name
    ``DNNL_MAX_CPU_ISA``; ``ALL`` or unset: no cap). ``"unknown"`` off x86-64."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "unknown"
    flags = cpu_flags() if flags is None else flags
    if cap is None:
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL"
    names = [name for name, _ in ONEDNN_ISAS]
    top = len(names) - 1 if cap.upper() == "ALL" or cap.upper() not in names else names.index(cap.upper())
    best = "unknown"
    for name, needs in ONEDNN_ISAS[:top + 1]:
        if needs <= flags:
            best = name
    return best


def numerics(*, workers: int | None = None) -> dict:
    """The record of what decides this process's floats (see the module docstring).

    Libraries are read only where this process loaded them, so that recording costs no
    import (``eval --predictions`` never loads torch): a library not loaded decided nothing,
    and its fields are None. Versions are those of the installed packages either way."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(*names: str) -> str | None:
        for name in names:
            try:
                return version(name)
            except PackageNotFoundError:
                continue
        return None

    torch = sys.modules.get("torch")
    record = {
        "torch_threads": torch.get_num_threads() if torch else None,
        "interop_threads": torch.get_num_interop_threads() if torch else None,
        "workers": workers,
        "onednn_isa": onednn_isa(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability() if torch else None,
        "cpu": cpu_model(),
        "torch": installed("torch"),
        "numpy": installed("numpy"),
        "opencv": installed("opencv-contrib-python-headless", "opencv-python-headless", "opencv-contrib-python",
                            "opencv-python"),
        "onnxruntime": installed("onnxruntime", "onnxruntime-gpu"),
        "python": platform.python_version(),
    }
    record["environment"] = {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}
    return record


def numerics_line(record: dict) -> str:
    """The record in one line, the first a run prints."""
    workers = "" if record.get("workers") is None else f", {record['workers']} workers"
    env = "".join(f", {k}={v}" for k, v in record.get("environment", {}).items())
    return (f"numerics: torch {record['torch_threads']} threads (inter-op {record['interop_threads']}){workers}, "
            f"oneDNN {record['onednn_isa']}, ATen {record['aten_cpu_capability']}; torch {record['torch']}, "
            f"numpy {record['numpy']}, OpenCV {record['opencv']}, onnxruntime {record['onnxruntime']}{env} "
            f"({record['cpu']})")
