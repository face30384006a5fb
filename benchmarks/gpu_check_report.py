"""The GPU check's record: the environment, ``gpu_check.json`` and the ``gpu_check.md`` summary.

With ``--prepare DIR`` the same record is DIR's ``manifest.json`` (read back by
``--prepared DIR``) and ``prepare.md``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.gpu_check_base import MANIFEST, MODELS, PACKAGES, THRESHOLDS, Check, first_line, name


def environment(*, dry_run: bool) -> dict:
    """Machine, GPU (nvidia-smi; torch's CUDA comes from the cuda step), package versions."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
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


def write_report(check: Check, records: list[dict], *, complete: bool, plan: list[dict] | None = None) -> dict:
    """``gpu_check.json`` and ``gpu_check.md`` in ``--out`` (with ``--prepare``: MANIFEST and
    ``prepare.md`` in the prepared folder), atomically; returns the JSON content."""
    from c2fbench.atomic import atomic_write_text

    counts = {s: sum(r["status"] == s for r in records) for s in ("passed", "failed", "skipped")}
    args = check.args
    report = {"format": "c2fbench-gpu-check", "complete": complete, "dry_run": args.dry_run,
              "prepare": bool(args.prepare), "prepared": check.prepared and check.prepared["folder"],
              "options": {"models": {m: MODELS[m] for m in args.models}, "shapes": [name(s) for s in args.shapes],
                          "duration_s": args.duration, "budget_s": args.budget_s, "device": args.device,
                          "pytest_timeout_s": args.pytest_timeout, "thresholds": THRESHOLDS},
              "elapsed_s": round(time.monotonic() - check.started, 1), "counts": counts,
              "exit_status": 1 if counts["failed"] else 0, "environment": check.environment, "steps": records}
    if plan is not None:
        report["plan"] = plan
    json_name, md_name = (MANIFEST, "prepare.md") if args.prepare else ("gpu_check.json", "gpu_check.md")
    atomic_write_text(check.out / json_name, json.dumps(plain(report), indent=2) + "\n")
    atomic_write_text(check.out / md_name, markdown(report))
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
    title = "GPU check: the prepared folder" if report["prepare"] else "GPU check" + (
        f" of {report['prepared']}" if report["prepared"] else "") + (" (dry run)" if report["dry_run"] else "")
    lines = [f"# {title}{'' if report['complete'] else ' (incomplete)'}",
             "", f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped in "
             f"{report['elapsed_s']} s (budget {report['options']['budget_s']:g} s); exit status {report['exit_status']}.",
             "", f"- date (UTC): {env['date_utc']}", f"- machine: {env['platform']}, {env['cpu_count']} CPUs, "
             f"Python {env['python']}", f"- GPU: {gpus}", f"- torch {env['torch']} (CUDA {env['torch_cuda']}), "
             f"torchvision {env['torchvision']}, onnxruntime {env['onnxruntime']}, TensorRT {env['tensorrt']}",
             f"- missing packages: {', '.join(k for k, v in env['packages'].items() if v is None) or 'none'}", "",
             "## Latency and parity against the reference (ONNX Runtime CPU FP32, or torch CPU FP32)", "",
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


