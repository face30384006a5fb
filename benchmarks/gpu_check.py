"""GPU check: what issue 13 needs a GPU for, on one bare GPU machine, in under 8 minutes.

    make gpu-check       # PYTHONPATH=. python3 benchmarks/gpu_check.py --out gpu-check
    python benchmarks/gpu_check.py --out DIR [--models demo,resnet101] [--shapes 1x3x321x321,1x3x512x512]
        [--duration 1.0] [--budget-s 450] [--pytest-timeout 180] [--device cuda] [--dry-run]

Steps, in this order; each is recorded in ``DIR/gpu_check.json`` and ``DIR/gpu_check.md``
(rewritten atomically after every step) as passed, failed or skipped with a one-line reason:

1. ``pytest -m gpu``, started first in a child process: it overlaps the CPU steps and is
   waited for (``--pytest-timeout``) before this process makes its first CUDA call.
2. CPU, per model (``demo``: the demo recipe's arch, ``resnet101``: deeplab_v2_resnet101, 21
   classes): a fixed-seed random checkpoint (``inference_latency.random_checkpoint``),
   conditioned (below); its dynamic ONNX export; the INT8 Q/DQ file for TensorRT
   (``quantize_static_int8(target="tensorrt")``, on 8 fixed-seed noise images; only where
   TensorRT imports, or in a dry run); per shape, the reference logits of ONNX Runtime on the
   CPU on 3 fixed-seed N(0, 1) inputs.
3. GPU, per model and shape: torch eager FP32, FP32 channels-last, AMP (FP16), AMP
   channels-last and ONNX Runtime's CUDA provider, each profiled by
   ``deploy.profile.profile_model`` (warm-up 200 ms, then at least 10 runs and ``--duration``)
   and compared with the reference: max and mean |diff|, argmax agreement, which must reach
   99.9% for FP32 and 99% for FP16/AMP.
4. TensorRT FP32, FP16 and INT8 (INT8 reported, never failed): engine built from the dynamic
   ONNX with min = opt = max = the shape (timing cache ``DIR/tensorrt_timing.cache``),
   profiled, compared. FP32 and FP16 of every model and shape come before any INT8.

``--dry-run`` (for a CPU machine) runs steps 2's CPU work and records every GPU step as
skipped "dry run: stops before the first CUDA call". A step whose prerequisite failed or was
skipped is skipped with that reason ("no TensorRT", "no CUDA", ...); an exception is recorded
with its first line (and traceback) and the next step runs. Exit status 1 if a step failed.

Random weights, conditioned. ``random_checkpoint``'s weights give logits of about 1e-8
(MobileNet) and 1e5 (ResNet-101), which FP16 underflows or overflows: on the CPU, FP16 agreed
with FP64 on 0% (MobileNet) and 7% (ResNet-101, NaNs) of pixels, which says nothing about a
runtime. Each residual branch's last BatchNorm scale is therefore set to 0.1 and the
BatchNorm statistics recomputed on fixed-seed random inputs: logits of about 1-10, FP16 then
agrees with FP64 on 99.5-99.6% of pixels on the CPU and FP32 on 100% (measured, 161x161).
Latency does not depend on the weights' values. FP32 means FP32: TF32 (on by default for
cuDNN convolutions in torch) is turned off before the first GPU step, as TensorRT FP32
builds clear it.

Budget (``--budget-s``, default 450 s = 7.5 min; ``make gpu-check`` stops it at 8 min). A
step starts only if its estimate (``ESTIMATE_S``) fits in the time left, else it is skipped
"out of time"; what ran is kept. Estimates for the H200 (16 cores), not measured there:
start-up and imports 10 s; CPU steps about 40 s (all of them, the dry run, take 57 s on 2
cores here, 24 s of it ResNet-101's INT8 quantization, which runs only with TensorRT);
pytest alongside them (capped at 180 s); 4 model-shape pairs x 5 torch/ONNX Runtime variants x (profile: load 2 s + warm-up 0.2 s
+ 1 s + cuDNN's first runs, parity 2 s) = 20 x 6 s = 120 s. Without TensorRT that is about 3
minutes. TensorRT adds 12 engines at 15-90 s each, about 6 minutes more: the budget cuts
the last of them ("out of time"); ``--models demo`` or one shape leaves room for all.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # c2fbench, deploy and benchmarks from this checkout, installed or not

DEMO_ARCH = json.loads((ROOT / "trainers" / "recipes" / "demo.json").read_text())["arch"]  # the demo's model
MODELS = {"demo": DEMO_ARCH, "resnet101": "deeplab_v2_resnet101"}
TORCH_VARIANTS = {"torch-fp32": (False, False), "torch-fp32-channels-last": (False, True),
                  "torch-amp": (True, False), "torch-amp-channels-last": (True, True)}  # (amp, channels_last)
THRESHOLDS = {"fp32": 99.9, "fp16": 99.0, "int8": None}  # argmax agreement (%) with ONNX Runtime CPU FP32
TRT_PRECISIONS = ("fp32", "fp16", "int8")
DRY_RUN = "dry run: stops before the first CUDA call"
SEED, PARITY_INPUTS, CALIB_IMAGES, RESIDUAL_SCALE = 0, 3, 8, 0.1
ESTIMATE_S = {"probe": 2, "checkpoint": 10, "export": 30, "quantize": 60, "reference": 15, "profile": 15,
              "parity": 10, "build-demo": 30, "build-resnet101": 90, "pytest": 0}
PACKAGES = ("torch", "torchvision", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorrt-cu12",
            "tensorrt-cu13", "onnxconverter-common", "pillow", "opencv-contrib-python-headless", "click", "rich",
            "scikit-learn", "matplotlib", "zlib-ng", "pytest", "hypothesis")
PYTEST_ARGS = ["-m", "gpu", "tests"]  # the tests' selection (a test replaces it with its own file)


class Outcome(Exception):
    """Raised by a step to end as ``status`` with a one-line reason, keeping its result."""

    status = ""

    def __init__(self, reason: str, result: dict | None = None) -> None:
        super().__init__(reason)
        self.result = result or {}


class Skip(Outcome):
    status = "skipped"


class CheckFailed(Outcome):
    status = "failed"


@dataclass
class Step:
    """One isolated unit of the check; ``needs`` names steps that must have passed."""

    name: str
    run: Callable[[], dict | None]
    kind: str
    needs: tuple[str, ...] = ()
    gpu: bool = False
    labels: dict = field(default_factory=dict)  # model, shape, variant: the tables' columns


class Check:
    """Options, paths and what the steps hand to each other (files, reference logits)."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.out, self.work = args, Path(args.out).resolve(), work  # pytest runs in ROOT
        self.started = time.monotonic()
        self.deadline = self.started + args.budget_s
        self.files: dict[tuple, Path] = {}  # ("checkpoint", model), ("onnx", model), ("engine", model, shape, p)
        self.references: dict[tuple, tuple[list, list]] = {}  # (model, shape) -> (inputs, logits)
        self.pytest = PytestRun(self.out, timeout_s=args.pytest_timeout)
        self.environment = environment(dry_run=args.dry_run)


# -- CPU steps ---------------------------------------------------------------------------------

def make_checkpoint(check: Check, model: str) -> dict:
    """A fixed-seed random checkpoint of ``model``, conditioned for FP16 (module docstring)."""
    from benchmarks.inference_latency import random_checkpoint

    path = random_checkpoint(check.work / f"{model}.pt", MODELS[model])
    check.files["checkpoint", model] = path
    return {"arch": MODELS[model], "seed": 0, **condition(path), "mb": round(path.stat().st_size / 2**20, 1)}


def condition(path: Path) -> dict:
    """Residual branches scaled by RESIDUAL_SCALE and BatchNorm statistics recomputed on
    fixed-seed (2, 3, 97, 97) N(0, 1) batches, written back to the checkpoint ``path``."""
    import torch

    from c2fbench.models.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(path)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    branches = [n for n in map(residual_norm, model.modules()) if n is not None]
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for norm in branches:
            norm.weight.fill_(RESIDUAL_SCALE)
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a plain average over the batches
        model.train()
        for _ in range(2):
            model(torch.randn(2, 3, 97, 97, generator=generator))
    save_checkpoint(path, model.eval(), arch=meta["arch"], kwargs=meta["kwargs"], classes=meta["classes"],
                    normalization=meta["normalization"])
    return {"conditioned": f"{len(branches)} residual branches scaled by {RESIDUAL_SCALE}, "
                           f"{len(norms)} BatchNorm statistics recomputed"}


def residual_norm(block):
    """The last BatchNorm of a residual branch (torchvision's ResNet blocks, MobileNet's
    inverted residuals with a skip connection), else None."""
    import torch

    if type(block).__name__ == "Bottleneck":
        return block.bn3
    if type(block).__name__ == "BasicBlock":
        return block.bn2
    if getattr(block, "use_res_connect", False):
        return [m for m in block.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)][-1]
    return None


def export(check: Check, model: str) -> dict:
    """The dynamic (batch, height, width) FP32 ONNX file of the checkpoint."""
    from deploy.export import export_onnx

    path = check.work / f"{model}.onnx"
    h, w = check.args.shapes[0][2:]
    export_onnx(check.files["checkpoint", model], path, dynamic=True, height=h, width=w, verify=False)
    check.files["onnx", model] = path
    return {"dynamic": True, "mb": round(path.stat().st_size / 2**20, 1)}


def quantize(check: Check, model: str) -> dict:
    """The INT8 Q/DQ file TensorRT builds (symmetric S8S8), calibrated on noise images."""
    from deploy.quantize import quantize_static_int8

    path = check.work / f"{model}-int8.onnx"
    record = quantize_static_int8(check.files["onnx", model], path, calib_images=calibration_images(check),
                                  num=CALIB_IMAGES, method="minmax", target="tensorrt")
    check.files["int8", model] = path
    return {"quantization": record, "mb": round(path.stat().st_size / 2**20, 1)}


def calibration_images(check: Check) -> Path:
    """CALIB_IMAGES fixed-seed noise PNGs at the smallest shape, written once."""
    from PIL import Image

    folder = check.work / "calibration"
    if not folder.is_dir():
        folder.mkdir()
        h, w = min((s[2:] for s in check.args.shapes), key=lambda hw: hw[0] * hw[1])
        rng = np.random.default_rng(SEED)
        for i in range(CALIB_IMAGES):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def reference(check: Check, model: str, shape: tuple) -> dict:
    """ONNX Runtime (CPU, FP32) logits of PARITY_INPUTS fixed-seed N(0, 1) inputs of ``shape``."""
    from deploy.runtimes import OnnxRuntime

    rng = np.random.default_rng(SEED)
    inputs = [rng.standard_normal(shape, dtype=np.float32) for _ in range(PARITY_INPUTS)]
    runtime = OnnxRuntime(check.files["onnx", model], device="cpu", threads=os.cpu_count())
    logits = [runtime.infer(x) for x in inputs]
    check.references[model, shape] = (inputs, logits)
    return {"inputs": len(inputs), "seed": SEED, "logits_min": float(min(v.min() for v in logits)),
            "logits_max": float(max(v.max() for v in logits))}


# -- probes ------------------------------------------------------------------------------------

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


def probe_ort_cuda() -> dict:
    """ONNX Runtime's providers, or Skip when CUDA's is not among them."""
    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        raise Skip(f"no ONNX Runtime CUDA provider (onnxruntime {onnxruntime.__version__}: {', '.join(providers)})")
    return {"providers": providers}


# -- GPU steps ---------------------------------------------------------------------------------

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
    """The variant's logits against ONNX Runtime CPU FP32 on the reference inputs."""
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
    """A TensorRT engine of ``precision`` for exactly ``shape``."""
    from deploy.tensorrt_build import build_engine

    source = check.files["int8" if precision == "int8" else "onnx", model]
    engine = check.work / f"{model}-{'x'.join(map(str, shape))}-{precision}.engine"
    sidecar = build_engine(source, engine, precision=precision, min_shape=shape, opt_shape=shape, max_shape=shape,
                           device=check.args.device, timing_cache=check.out / "tensorrt_timing.cache")
    check.files["engine", model, shape, precision] = engine
    keep = ("tensorrt_version", "precision", "fp16_mode", "tf32", "strongly_typed", "shapes")
    return {"sidecar": {k: sidecar.get(k) for k in keep}, "mb": round(engine.stat().st_size / 2**20, 1)}


# -- pytest -m gpu -----------------------------------------------------------------------------

class PytestRun:
    """``pytest -m gpu`` in a child process of its own session (killed as a group on timeout),
    with its output in ``DIR/pytest_gpu.log`` and counts from ``DIR/pytest_gpu.xml``."""

    def __init__(self, out: Path, *, timeout_s: float) -> None:
        self.out, self.timeout_s = out, timeout_s
        self.log, self.xml = out / "pytest_gpu.log", out / "pytest_gpu.xml"
        self.proc, self.started, self.missing = None, 0.0, ""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
                "--continue-on-collection-errors", f"--junitxml={self.xml}", *PYTEST_ARGS]

    def start(self) -> None:
        if importlib.util.find_spec("pytest") is None:
            self.missing = f"pytest is not installed for {sys.executable}"
            return
        self.xml.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started = time.monotonic()

    def finish(self, deadline: float) -> dict:
        """Wait for the run (until its timeout or ``deadline``) and judge it by its counts."""
        if self.proc is None:
            raise Skip(self.missing or "pytest was not started")
        limit = min(self.started + self.timeout_s, deadline)
        try:
            code = self.proc.wait(timeout=max(0.1, limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise CheckFailed(f"pytest -m gpu still running after {time.monotonic() - self.started:.0f} s: "
                              f"killed (see {self.log.name})") from None
        result = {"command": " ".join(self.command()[1:]), "exit_status": code, "log": self.log.name,
                  **(junit_counts(self.xml) if self.xml.is_file() else {})}
        bad = result.get("failed", 0) + result.get("errors", 0)
        if code == 5:
            raise Skip("no test is marked gpu", result)
        if code != 0 or bad:
            first = (result.get("problems") or [f"see {self.log.name}"])[0]
            raise CheckFailed(f"pytest -m gpu: {bad} failed or errors, exit status {code}; first: {first}", result)
        if result.get("tests") and result["skipped"] == result["tests"]:
            raise Skip(f"all {result['tests']} gpu tests skipped: {(result['skip_reasons'] or ['?'])[0]}", result)
        return result

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


def junit_counts(path: Path) -> dict:
    """passed / failed / errors / skipped of a pytest JUnit XML file, with the first problems
    and skip reasons (one line each)."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    problems, skips = [], []
    for case in root.iter("testcase"):
        for child in case:
            text = (child.get("message") or child.text or "").strip().splitlines()
            line = f"{case.get('classname')}::{case.get('name')}: {text[0] if text else child.tag}"
            (skips if child.tag == "skipped" else problems if child.tag in ("failure", "error") else []).append(line)
    return {"tests": n["tests"], "passed": n["tests"] - n["failures"] - n["errors"] - n["skipped"],
            "failed": n["failures"], "errors": n["errors"], "skipped": n["skipped"],
            "problems": problems[:10], "skip_reasons": list(dict.fromkeys(skips))[:5]}


# -- environment -------------------------------------------------------------------------------

def environment(*, dry_run: bool) -> dict:
    """Machine, GPU (nvidia-smi; torch's CUDA comes from the cuda step), package versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    trt = next((versions[n] for n in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12") if versions[n]), None)
    try:
        import torch

        cuda = torch.version.cuda
    except ImportError:
        cuda = None
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "executable": sys.executable, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "gpus": nvidia_smi(), "torch_cuda": cuda, "dry_run": dry_run,
            "torch": versions["torch"], "torchvision": versions["torchvision"],
            "onnxruntime": versions["onnxruntime-gpu"] or versions["onnxruntime"], "tensorrt": trt,
            "packages": versions}


def nvidia_smi() -> list[dict] | str:
    """[{name, driver, memory}] per GPU from nvidia-smi, or why there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "nvidia-smi not found"
    try:
        done = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return first_line(e)
    if done.returncode != 0:
        return f"nvidia-smi exit status {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}"
    return [dict(zip(("name", "driver", "memory"), (v.strip() for v in line.split(","))))
            for line in done.stdout.splitlines() if line.strip()]


# -- the plan and its runner -------------------------------------------------------------------

def plan(check: Check) -> list[Step]:
    """Every step, in order (module docstring); CPU steps first, then GPU steps."""
    args, steps = check.args, [Step("tensorrt", probe_tensorrt, "probe")]
    for m in args.models:
        steps += [Step(f"checkpoint {m}", partial(make_checkpoint, check, m), "checkpoint", labels={"model": m}),
                  Step(f"export {m}", partial(export, check, m), "export", (f"checkpoint {m}",), labels={"model": m}),
                  Step(f"quantize {m}", partial(quantize, check, m), "quantize",
                       (f"export {m}",) + (() if args.dry_run else ("tensorrt",)), labels={"model": m})]
        steps += [Step(f"reference {m} {name(s)}", partial(reference, check, m, s), "reference", (f"export {m}",),
                       labels={"model": m, "shape": name(s)}) for s in args.shapes]
    steps += [Step("pytest -m gpu", lambda: check.pytest.finish(check.deadline), "pytest", gpu=True),
              Step("cuda", partial(probe_cuda, args.device), "probe", gpu=True),
              Step("onnxruntime cuda", probe_ort_cuda, "probe", ("cuda",), gpu=True)]
    for m in args.models:
        for s in args.shapes:
            for variant in [*TORCH_VARIANTS, "onnxruntime-cuda"]:
                needs = ("cuda", "onnxruntime cuda") if variant == "onnxruntime-cuda" else ("cuda",)
                steps += variant_steps(check, m, s, variant, needs)
    for p in TRT_PRECISIONS:
        for m in args.models:
            for s in args.shapes:
                source = f"quantize {m}" if p == "int8" else f"export {m}"
                built = f"build {m} {name(s)} tensorrt-{p}"
                steps.append(Step(built, partial(build, check, m, s, p), f"build-{m}", ("tensorrt", "cuda", source),
                                  gpu=True, labels={"model": m, "shape": name(s), "variant": f"tensorrt-{p}"}))
                steps += variant_steps(check, m, s, f"tensorrt-{p}", (built,))
    return steps


def variant_steps(check: Check, model: str, shape: tuple, variant: str, needs: tuple) -> list[Step]:
    """The profile and the parity step of one variant at one shape."""
    labels = {"model": model, "shape": name(shape), "variant": variant}
    where = f"{model} {name(shape)} {variant}"
    return [Step(f"profile {where}", partial(profile, check, model, shape, variant), "profile", needs, True, labels),
            Step(f"parity {where}", partial(parity, check, model, shape, variant), "parity",
                 needs + (f"reference {model} {name(shape)}",), True, labels)]


def run_step(step: Step, records: dict, check: Check) -> dict:
    """Run ``step`` unless ``why_not``; any exception becomes a failed record."""
    record = {"step": step.name, "kind": step.kind, **step.labels, "status": "skipped", "reason": "",
              "seconds": 0.0, "result": {}}
    reason = why_not(step, records, check)
    if reason:
        return {**record, "reason": reason}
    start = time.monotonic()
    try:
        record.update(status="passed", result=step.run() or {})
    except Outcome as e:
        record.update(status=e.status, reason=str(e), result=e.result)
    except Exception as e:  # isolation: record it, go on with the next step
        record.update(status="failed", reason=first_line(e), traceback=traceback.format_exc()[-3000:])
    finally:
        if step.gpu:
            release_gpu()
    record["seconds"] = round(time.monotonic() - start, 2)
    return record


def why_not(step: Step, records: dict, check: Check) -> str:
    """Why ``step`` does not run ("" when it does): a dry run, a prerequisite, the deadline."""
    if check.args.dry_run and step.gpu:
        return DRY_RUN
    for need in step.needs:
        done = records[need]
        if done["status"] == "skipped":
            return done["reason"]
        if done["status"] == "failed":
            return f"needs {need}, which failed"
    left, estimate = check.deadline - time.monotonic(), ESTIMATE_S[step.kind]
    if left < estimate:
        return f"out of time ({max(left, 0):.0f} s left of --budget-s {check.args.budget_s:g}, needs about {estimate} s)"
    return ""


def release_gpu() -> None:
    """Free the cached GPU memory of the step that just ended."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}" if text else type(e).__name__


def name(shape: tuple) -> str:
    return "x".join(map(str, shape))


# -- the report --------------------------------------------------------------------------------

def write_report(check: Check, records: list[dict], *, complete: bool) -> dict:
    """``gpu_check.json`` and ``gpu_check.md`` in ``--out``, atomically; returns the JSON content."""
    from c2fbench.atomic import atomic_write_text

    counts = {s: sum(r["status"] == s for r in records) for s in ("passed", "failed", "skipped")}
    args = check.args
    report = {"format": "c2fbench-gpu-check", "complete": complete, "dry_run": args.dry_run,
              "options": {"models": {m: MODELS[m] for m in args.models}, "shapes": [name(s) for s in args.shapes],
                          "duration_s": args.duration, "budget_s": args.budget_s, "device": args.device,
                          "pytest_timeout_s": args.pytest_timeout, "thresholds": THRESHOLDS},
              "elapsed_s": round(time.monotonic() - check.started, 1), "counts": counts,
              "exit_status": 1 if counts["failed"] else 0, "environment": check.environment, "steps": records}
    atomic_write_text(check.out / "gpu_check.json", json.dumps(plain(report), indent=2) + "\n")
    atomic_write_text(check.out / "gpu_check.md", markdown(report))
    return report


def plain(value):
    """``value`` with non-finite floats as strings ("nan", "inf"), which JSON lacks."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def markdown(report: dict) -> str:
    """The summary: environment, one row per profiled variant, then every step."""
    env, counts, steps = report["environment"], report["counts"], report["steps"]
    gpus = env["gpus"] if isinstance(env["gpus"], str) else "; ".join(
        f"{g.get('name')} (driver {g.get('driver')}, {g.get('memory')})" for g in env["gpus"])
    lines = [f"# GPU check{' (dry run)' if report['dry_run'] else ''}{'' if report['complete'] else ' (incomplete)'}",
             "", f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped in "
             f"{report['elapsed_s']} s (budget {report['options']['budget_s']:g} s); exit status {report['exit_status']}.",
             "", f"- date (UTC): {env['date_utc']}", f"- machine: {env['platform']}, {env['cpu_count']} CPUs, "
             f"Python {env['python']}", f"- GPU: {gpus}", f"- torch {env['torch']} (CUDA {env['torch_cuda']}), "
             f"torchvision {env['torchvision']}, onnxruntime {env['onnxruntime']}, TensorRT {env['tensorrt']}",
             f"- missing packages: {', '.join(k for k, v in env['packages'].items() if v is None) or 'none'}", "",
             "## Latency and parity against ONNX Runtime CPU FP32", "",
             "| model | shape | variant | median ms | GPU ms | H2D+GPU+D2H ms | images/s | argmax agreement % "
             "| max abs diff | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, pair in variant_rows(steps).items():
        prof, par = pair.get("profile", {}), pair.get("parity", {})
        row, agree = prof.get("result", {}).get("profile", {}), par.get("result", {})
        said = {outcome(r) for r in pair.values()}  # one phrase when build, profile and parity agree
        status = said.pop() if len(said) == 1 else "; ".join(f"{k} {outcome(r)}" for k, r in pair.items())
        lines.append("| " + " | ".join([*key, *(fmt(row.get(k)) for k in ("median_ms", "gpu_median_ms",
                     "latency_median_ms", "throughput_ips")), fmt(agree.get("argmax_agreement"), 3),
                     fmt(agree.get("max_abs_diff"), 1, "e"), status.replace("|", "/")]) + " |")
    lines += ["", "## Steps", "", "| step | status | seconds | reason |", "|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['status']} | {r['seconds']} | {r['reason'].replace('|', '/')} |" for r in steps]
    pytest = next((r for r in steps if r["kind"] == "pytest"), None)
    if pytest and pytest["result"].get("tests") is not None:
        res = pytest["result"]
        lines += ["", "## pytest -m gpu", "", f"{res['passed']} passed, {res['failed']} failed, {res['errors']} errors, "
                  f"{res['skipped']} skipped (exit status {res['exit_status']}; log: {res['log']})", ""]
        lines += [f"- {p}" for p in res["problems"] + res["skip_reasons"]]
    return "\n".join(lines) + "\n"


def variant_rows(steps: list[dict]) -> dict:
    """{(model, shape, variant): {"build"/"profile"/"parity": record}} in step order."""
    rows: dict = {}
    for r in steps:
        if r["kind"] in ("profile", "parity") or r["kind"].startswith("build"):
            rows.setdefault((r["model"], r["shape"], r["variant"]), {})[r["kind"].split("-")[0]] = r
    return rows


def outcome(record: dict) -> str:
    return record["status"] + (f" ({record['reason']})" if record["reason"] else "")


def fmt(value, digits: int = 2, kind: str = "f") -> str:
    return "" if value is None else f"{value:.{digits}{kind}}" if isinstance(value, float) else str(value)


# -- command line ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json/.md and pytest's log")
    parser.add_argument("--models", type=model_list, default=list(MODELS), help="demo,resnet101 (default: both)")
    parser.add_argument("--shapes", type=shape_list, default=shape_list("1x3x321x321,1x3x512x512"))
    parser.add_argument("--duration", type=float, default=1.0, help="seconds of timed runs per profile (1.0)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="steps that would end later are skipped (450)")
    parser.add_argument("--pytest-timeout", type=float, default=180.0, help="seconds for pytest -m gpu (180)")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--dry-run", action="store_true", help="CPU steps only; stops before the first CUDA call")
    args = parser.parse_args(argv)
    if not (args.device == "cuda" or args.device.startswith("cuda:") and args.device[5:].isdigit()):
        parser.error(f"--device {args.device}: expected cuda or cuda:N")
    if args.duration <= 0 or args.budget_s < 0 or args.pytest_timeout <= 0:
        parser.error("--duration and --pytest-timeout must be > 0, --budget-s >= 0")
    return args


def model_list(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list of {', '.join(MODELS)}")
    return list(dict.fromkeys(models))


def shape_list(text: str) -> list[tuple]:
    from c2fbench.errors import InputError
    from deploy.profile import parse_shape

    try:
        return list(dict.fromkeys(parse_shape(s.strip()) for s in text.split(",") if s.strip())) or [parse_shape("")]
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 when every step passed or was skipped, 1 when one failed."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="c2fbench-gpu-check-") as work:
        check = Check(args, Path(work))
        records: dict[str, dict] = {}
        if not args.dry_run:
            check.pytest.start()
        try:
            for step in plan(check):
                records[step.name] = run_step(step, records, check)
                r = records[step.name]
                print(f"{time.monotonic() - check.started:6.1f} s  {r['status']:7}  {step.name}"
                      f"{'  (' + r['reason'] + ')' if r['reason'] else ''}", flush=True)
                write_report(check, list(records.values()), complete=False)
        finally:
            check.pytest.kill()
        report = write_report(check, list(records.values()), complete=True)
    c = report["counts"]
    print(f"gpu check: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped in {report['elapsed_s']} s; "
          f"{args.out / 'gpu_check.md'}")
    return report["exit_status"]


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # `timeout`: kill pytest, keep the report
    sys.exit(main())
