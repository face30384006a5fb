"""GPU check: what issue 13 needs a GPU for, on one bare GPU machine, in under 8 minutes.

A GPU machine is lent rarely, for minutes, with a Python that has torch, torchvision, numpy,
pillow and onnxruntime (or onnxruntime-gpu), maybe TensorRT, and no network. So the check
runs in two halves:

    make gpu-prepare     # here: python benchmarks/gpu_check.py --prepare gpu-check/prepared
    make gpu-check       # there: python3 benchmarks/gpu_check.py --prepared gpu-check/prepared --out gpu-check
    python benchmarks/gpu_check.py [--prepare DIR | --prepared DIR] [--out DIR] [--models demo,resnet101]
        [--shapes 1x3x321x321,1x3x512x512] [--duration 1.0] [--budget-s 450] [--pytest-timeout 120]
        [--device cuda] [--dry-run]

``--prepare DIR`` (the CPU machine, the project's environment: onnx, onnxconverter-common,
rich, click) makes the files: per model a fixed-seed random checkpoint, conditioned (below);
its dynamic ONNX export; the INT8 Q/DQ file for TensorRT (``quantize_static_int8(
target="tensorrt")`` on 8 fixed-seed noise images); per shape the argmax labels of the
reference logits; and ``DIR/manifest.json`` (their records, the options, the environment,
the plan). DIR stays under 64 MiB so that it travels with the repository: a model whose
files do not fit (ResNet-101: 168 MiB a file) is skipped "too large to prepare".

``--prepared DIR`` (the GPU machine) takes DIR's files and makes there what DIR lacks and
the machine can make (a checkpoint needs torch only; an export or quantization needs
``onnx`` and is skipped without it). Without either option everything runs in one process.
The reference is computed where it is used: ONNX Runtime (CPU, FP32) on the export, or torch
(CPU, FP32) where there is no export, on 3 fixed-seed N(0, 1) inputs; a prepared run checks
its argmax labels against DIR's. Then, most important first (benchmarks/gpu_check_plan.py):
``pytest -m gpu`` on the files holding gpu tests, started first in a child process and
waited for (``--pytest-timeout``) before the first CUDA call; the probes (torch sees the GPU;
an ONNX Runtime session on CUDA opens and gets that provider; TensorRT imports); per shape,
torch eager FP32 and AMP and ONNX Runtime CUDA for every model, TensorRT FP32, FP16, INT8
(engine for exactly the shape, timing cache ``--out/tensorrt_timing.cache``), then the
channels-last variants. Each variant is profiled by ``deploy.profile.profile_model``
(warm-up 200 ms, at least 10 runs and ``--duration``) and compared with the reference: max
and mean |diff|, argmax agreement >= 99.9% for FP32 and >= 99% for FP16/AMP (INT8 reported).

Every step is recorded in ``--out/gpu_check.json`` and ``gpu_check.md`` (rewritten
atomically after every step) as passed, failed or skipped with a one-line reason. A step
whose prerequisite failed or was skipped is skipped with that reason; an exception is
recorded with its first line (and traceback) and the next step runs. Exit status 1 if a
step failed. ``--dry-run`` runs the CPU steps and stops before the first CUDA call.

Random weights, conditioned. ``random_checkpoint``'s weights give logits of about 1e-8
(MobileNet) and 1e5 (ResNet-101), which FP16 underflows or overflows: on the CPU, FP16 agreed
with FP64 on 0% (MobileNet) and 7% (ResNet-101, NaNs) of pixels, which says nothing about a
runtime. Each residual branch's last BatchNorm scale is therefore set to 0.1 and the
BatchNorm statistics recomputed on fixed-seed random inputs: logits of about 1-10, FP16 then
agrees with FP64 on 99.5-99.6% of pixels on the CPU and FP32 on 100% (measured, 161x161).
Latency does not depend on the weights' values. FP32 means FP32: TF32 (on by default for
cuDNN convolutions in torch) is turned off before the first GPU step, as TensorRT FP32
builds clear it.

Budget (``--budget-s``, default 450 s; ``make gpu-check`` stops it at 8 minutes). A step
starts only if its estimate (``ESTIMATE_S``) fits in the time left, else it is skipped "out
of time"; what ran is kept. Estimates for a 16-core H100, not measured there: start-up 10 s;
the prepared run's CPU steps about 20 s (ResNet-101's checkpoint and torch references),
pytest alongside (at most 120 s); 4 model-shape pairs x 5 torch/ONNX Runtime variants x
(profile: load 2 s + warm-up 0.2 s + 1 s + cuDNN's first runs, parity 2 s) = 20 x 6 s = 120 s.
Without TensorRT that is about 3 minutes. TensorRT adds up to 12 engines at 15-90 s each:
the budget cuts the last of them, and the 512 shape comes after every 321 step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # c2fbench, deploy and benchmarks from this checkout, installed or not

from benchmarks.gpu_check_base import MANIFEST, MODELS, Check  # noqa: E402 (after the path)
from benchmarks.gpu_check_cpu import check_size  # noqa: E402
from benchmarks.gpu_check_plan import plan, run_step  # noqa: E402
from benchmarks.gpu_check_pytest import PytestRun  # noqa: E402
from benchmarks.gpu_check_report import environment, write_report  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    halves = parser.add_mutually_exclusive_group()
    halves.add_argument("--prepare", type=Path, help="make the CPU half's files in this folder (the CPU machine)")
    halves.add_argument("--prepared", type=Path, help="take the CPU half's files from this folder (the GPU machine)")
    parser.add_argument("--out", type=Path, default=Path("gpu-check"),
                        help="folder for gpu_check.json/.md and pytest's log (gpu-check)")
    parser.add_argument("--models", type=model_list, help="demo,resnet101 (default: both, or the prepared ones)")
    parser.add_argument("--shapes", type=shape_list, help="default 1x3x321x321,1x3x512x512, or the prepared ones")
    parser.add_argument("--duration", type=float, default=1.0, help="seconds of timed runs per profile (1.0)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="steps that would end later are skipped (450)")
    parser.add_argument("--pytest-timeout", type=float, default=120.0, help="seconds for pytest -m gpu (120)")
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--dry-run", action="store_true", help="CPU steps only; stops before the first CUDA call")
    args = parser.parse_args(argv)
    if not (args.device == "cuda" or args.device.startswith("cuda:") and args.device[5:].isdigit()):
        parser.error(f"--device {args.device}: expected cuda or cuda:N")
    if args.duration <= 0 or args.budget_s < 0 or args.pytest_timeout <= 0:
        parser.error("--duration and --pytest-timeout must be > 0, --budget-s >= 0")
    if args.prepared and args.out.resolve() == args.prepared.resolve():
        parser.error(f"--out {args.out} is the prepared folder; write the report elsewhere")
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


def load_prepared(folder: Path) -> dict:
    """The manifest of a folder ``--prepare`` made, its steps by name and ``folder`` added;
    SystemExit naming the file when it is missing or not one."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {path}: not a prepared folder's manifest ({type(e).__name__}); "
                         "make it with `python benchmarks/gpu_check.py --prepare DIR`") from None
    if not (isinstance(manifest, dict) and manifest.get("format") == "c2fbench-gpu-check" and manifest.get("prepare")):
        raise SystemExit(f"error: {path}: not written by gpu_check.py --prepare")
    return {**manifest, "steps": {r["step"]: r for r in manifest["steps"]}, "folder": str(folder.resolve())}


def fresh_prepare_folder(folder: Path) -> None:
    """An empty ``folder``: a previous ``--prepare``'s folder is replaced, any other non-empty one refused."""
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MANIFEST).is_file():
            raise SystemExit(f"error: --prepare {folder}: a non-empty folder that --prepare did not make")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Run the check (or its CPU half); 0 when every step passed or was skipped, 1 when one failed."""
    args = parse_args(argv)
    prepared = load_prepared(args.prepared) if args.prepared else None
    options = (prepared or {}).get("options", {})
    args.models = args.models or [m for m in options.get("models", MODELS) if m in MODELS] or list(MODELS)
    args.shapes = args.shapes or shape_list(",".join(options.get("shapes", ["1x3x321x321", "1x3x512x512"])))
    if args.prepare:
        fresh_prepare_folder(args.prepare)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="c2fbench-gpu-check-") as scratch:
        check = Check(args, Path(scratch), prepared=prepared)
        check.environment = environment(dry_run=args.dry_run)
        steps = [s for s in plan(check) if not (args.prepare and s.gpu)]
        layout = [{"step": s.name, "kind": s.kind, "needs": list(s.needs), "gpu": s.gpu} for s in plan(check)]
        check.pytest = PytestRun(check.out, timeout_s=args.pytest_timeout)
        if not (args.dry_run or args.prepare):
            check.pytest.start()
        records: dict[str, dict] = {}
        try:
            for step in steps + check_size(check):
                records[step.name] = r = run_step(step, records, check)
                print(f"{time.monotonic() - check.started:6.1f} s  {r['status']:7}  {step.name}"
                      f"{'  (' + r['reason'] + ')' if r['reason'] else ''}", flush=True)
                write_report(check, list(records.values()), complete=False)
        finally:
            check.pytest.kill()
        report = write_report(check, list(records.values()), complete=True, plan=layout if args.prepare else None)
    c = report["counts"]
    print(f"gpu check{' --prepare' if args.prepare else ''}: {c['passed']} passed, {c['failed']} failed, "
          f"{c['skipped']} skipped in {report['elapsed_s']} s; {check.out}")
    return report["exit_status"]


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # `timeout`: kill pytest, keep the report
    sys.exit(main())
