"""The GPU check's plan (which steps, in which order, each needing which) and its runner.

Order, most important first, so that the budget cuts the least important: the CPU steps;
the probes; pytest (waited for before the first CUDA call); torch FP32, AMP and ONNX Runtime
CUDA at the first shape for every model; TensorRT FP32, FP16, then INT8 at that shape; the
channels-last variants there; then the same for each further shape. Every profile or parity
step needs the steps that make its inputs (checkpoint, export, engine, reference) as well as
the probes, so that a missing input skips it with the reason.
"""

from __future__ import annotations

import gc
import sys
import time
import traceback
from functools import partial
from pathlib import Path

from benchmarks.gpu_check_base import (DRY_RUN, ROOT, ESTIMATE_S, FIRST_VARIANTS, TORCH_VARIANTS, TRT_PRECISIONS, Check,
                                       Outcome, Step, first_line, name)
from benchmarks.gpu_check_cpu import export, make_checkpoint, quantize, reference
from benchmarks.gpu_check_gpu import build, parity, probe_cuda, probe_ort_cuda, probe_tensorrt, profile


def plan(check: Check) -> list[Step]:
    """Every step, in order (module docstring); CPU steps first (the only ones ``--prepare`` runs)."""
    args = check.args
    steps = [Step("tensorrt", probe_tensorrt, "probe")]
    for m in args.models:
        labels = {"model": m}
        # --prepare and a dry run make the INT8 file whether or not TensorRT is here
        int8_needs = (f"export {m}",) + (() if args.dry_run or args.prepare else ("tensorrt",))
        steps += [Step(f"checkpoint {m}", partial(make_checkpoint, check, m), "checkpoint", labels=labels),
                  Step(f"export {m}", partial(export, check, m), "export", (f"checkpoint {m}",), labels=labels),
                  Step(f"quantize {m}", partial(quantize, check, m), "quantize", int8_needs, labels=labels)]
        steps += [Step(f"reference {m} {name(s)}", partial(reference, check, m, s), "reference", (f"checkpoint {m}",),
                       labels={"model": m, "shape": name(s)}) for s in args.shapes]
    steps += [Step("pytest -m gpu", lambda: check.pytest.finish(check.deadline), "pytest", gpu=True),
              Step("cuda", partial(probe_cuda, args.device), "probe", gpu=True),
              Step("onnxruntime cuda", partial(probe_ort_cuda, args.device), "probe", ("cuda",), gpu=True)]
    for s in args.shapes:
        steps += [step for m in args.models for v in FIRST_VARIANTS for step in variant_steps(check, m, s, v)]
        steps += tensorrt_steps(check, s)
        steps += [step for m in args.models for v in TORCH_VARIANTS if v not in FIRST_VARIANTS
                  for step in variant_steps(check, m, s, v)]
    return steps


def tensorrt_steps(check: Check, shape: tuple) -> list[Step]:
    """Build, profile and parity of TensorRT FP32 and FP16 for every model, then INT8."""
    steps = []
    for p in TRT_PRECISIONS:
        for m in check.args.models:
            source = f"quantize {m}" if p == "int8" else f"export {m}"
            built = f"build {m} {name(shape)} tensorrt-{p}"
            steps.append(Step(built, partial(build, check, m, shape, p), f"build-{m}", ("tensorrt", "cuda", source),
                              gpu=True, labels={"model": m, "shape": name(shape), "variant": f"tensorrt-{p}"}))
            steps += variant_steps(check, m, shape, f"tensorrt-{p}")
    return steps


def variant_steps(check: Check, model: str, shape: tuple, variant: str) -> list[Step]:
    """The profile and the parity step of one variant at one shape, each needing what makes
    its model file (checkpoint, export or engine) and the probes; parity also the reference."""
    where = f"{model} {name(shape)} {variant}"
    if variant in TORCH_VARIANTS:
        needs = ("cuda", f"checkpoint {model}")
    elif variant == "onnxruntime-cuda":
        needs = ("cuda", "onnxruntime cuda", f"export {model}")
    else:
        needs = (f"build {where}",)
    labels = {"model": model, "shape": name(shape), "variant": variant}
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
    except ModuleNotFoundError as e:  # a bare GPU machine: what needs more is skipped, naming it
        record.update(status="skipped", reason=f"needs {e.name}, which is not installed here ({importer(e)})",
                      traceback=traceback.format_exc()[-3000:])
    except Exception as e:  # isolation: record it, go on with the next step
        record.update(status="failed", reason=first_line(e), traceback=traceback.format_exc()[-3000:])
    finally:
        if step.gpu:
            release_gpu()
    record["seconds"] = round(time.monotonic() - start, 2)
    return record


def importer(e: BaseException) -> str:
    """``file:line`` of this checkout's last frame in ``e``'s traceback (who imported the module)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(str(ROOT))]
    return f"{Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno}" if frames else "?"


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
