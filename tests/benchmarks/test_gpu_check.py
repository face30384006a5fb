"""benchmarks/gpu_check.py on the CPU: the dry run makes no CUDA call and records every step;
a failing step is isolated; the deadline skips; pytest's counts; the no-CUDA path."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--models", "demo", "--shapes", "1x3x64x64"]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


@pytest.fixture
def no_cuda_calls(monkeypatch):
    """Every entry to CUDA through torch raises (a step that makes one fails, and the test).
    ``is_initialized`` stays: torch.manual_seed asks it to queue the CUDA seed, without CUDA."""
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("a CUDA call")

    for name in ("is_available", "_lazy_init", "init", "device_count", "current_device", "get_device_name",
                 "get_device_capability", "synchronize"):
        monkeypatch.setattr(torch.cuda, name, refuse)


def read(out: Path) -> tuple[dict, str]:
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_dry_run_runs_the_cpu_steps_and_stops_before_cuda(gpu_check, tmp_path, no_cuda_calls):
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), *SMALL, "--dry-run"]) == 0
    report, md = read(out)
    steps = {s["step"]: s for s in report["steps"]}
    assert report["complete"] and report["dry_run"] and report["exit_status"] == 0
    for name in ("checkpoint demo", "export demo", "quantize demo", "reference demo 1x3x64x64"):
        assert steps[name]["status"] == "passed", steps[name]
    assert steps["quantize demo"]["result"]["quantization"]["num_images"] == gpu_check.CALIB_IMAGES
    gpu = [s for s in report["steps"] if s["step"] not in ("tensorrt", "checkpoint demo", "export demo",
                                                             "quantize demo", "reference demo 1x3x64x64")]
    assert {s["kind"] for s in gpu} == {"pytest", "probe", "profile", "parity", "build-demo"}
    assert len(gpu) == 3 + 5 * 2 + 3 * 3  # pytest, cuda, ORT probe; 5 variants x 2; TensorRT 3 x 3
    assert all(s["status"] == "skipped" and s["reason"] == gpu_check.DRY_RUN for s in gpu)
    assert all(s["status"] in ("passed", "skipped") and (s["status"] == "passed" or s["reason"]) for s in steps.values())
    for name in steps:
        assert f"| {name} | {steps[name]['status']} |" in md
    assert "# GPU check (dry run)" in md and "0 failed" in md
    env = report["environment"]
    assert {"gpus", "torch", "torchvision", "onnxruntime", "tensorrt", "torch_cuda", "python", "date_utc"} <= set(env)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_a_failing_step_is_recorded_and_the_rest_goes_on(gpu_check, tmp_path, monkeypatch, no_cuda_calls):
    import deploy.export

    def broken(*args, **kwargs):
        raise RuntimeError("the exporter broke\nsecond line")

    monkeypatch.setattr(deploy.export, "export_onnx", broken)
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), *SMALL, "--dry-run"]) == 1
    report, md = read(out)
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["checkpoint demo"]["status"] == "passed"
    assert steps["export demo"]["status"] == "failed"
    assert steps["export demo"]["reason"] == "RuntimeError: the exporter broke"
    assert "Traceback" in steps["export demo"]["traceback"]
    for name in ("quantize demo", "reference demo 1x3x64x64"):
        assert steps[name] == {**steps[name], "status": "skipped", "reason": "needs export demo, which failed"}
    assert steps["parity demo 1x3x64x64 torch-fp32"]["reason"] == gpu_check.DRY_RUN
    assert report["counts"]["failed"] == 1 and "exit status 1" in md


def test_the_deadline_skips_what_would_overrun(gpu_check, tmp_path, no_cuda_calls):
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), *SMALL, "--dry-run", "--budget-s", "0"]) == 0
    report, _ = read(out)
    cpu = [s for s in report["steps"] if s["reason"] != gpu_check.DRY_RUN]
    assert cpu and all(s["status"] == "skipped" and s["reason"].startswith("out of time") for s in cpu)


def test_pytest_counts_from_junit_xml(gpu_check, tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite tests="4" failures="1" errors="1" skipped="1">'
                   '<testcase classname="t" name="a"/><testcase classname="t" name="b">'
                   '<failure message="assert 1 == 2&#10;more">x</failure></testcase>'
                   '<testcase classname="t" name="c"><error message="boom"/></testcase>'
                   '<testcase classname="t" name="d"><skipped message="needs CUDA"/></testcase>'
                   '</testsuite></testsuites>')
    counts = gpu_check.junit_counts(xml)
    assert {k: counts[k] for k in ("tests", "passed", "failed", "errors", "skipped")} == {
        "tests": 4, "passed": 1, "failed": 1, "errors": 1, "skipped": 1}
    assert counts["problems"] == ["t::b: assert 1 == 2", "t::c: boom"]
    assert counts["skip_reasons"] == ["t::d: needs CUDA"]


def test_without_cuda_the_gpu_steps_say_so(gpu_check, tmp_path, monkeypatch):
    """The real (not dry) run on this CPU machine: pytest runs (a stand-in file here), then
    every GPU step is skipped "no CUDA" and TensorRT's "no TensorRT"."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    tests = tmp_path / "test_stand_in.py"
    tests.write_text("import pytest\n\n@pytest.mark.gpu\ndef test_runs():\n    pass\n\n"
                     "@pytest.mark.gpu\ndef test_skips():\n    pytest.skip('needs a GPU')\n")
    monkeypatch.setattr(gpu_check, "PYTEST_ARGS", ["-m", "gpu", "-o", "markers=gpu", str(tests)])
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), *SMALL]) == 0
    report, md = read(out)
    steps = {s["step"]: s for s in report["steps"]}
    run = steps["pytest -m gpu"]
    assert run["status"] == "passed" and (run["result"]["passed"], run["result"]["skipped"]) == (1, 1)
    assert "1 passed, 0 failed, 0 errors, 1 skipped" in md
    assert steps["cuda"]["reason"].startswith("no CUDA")
    assert steps["profile demo 1x3x64x64 torch-amp"]["reason"] == steps["cuda"]["reason"]
    if steps["tensorrt"]["status"] == "skipped":
        assert steps["quantize demo"]["reason"].startswith("no TensorRT")


def test_the_gpu_steps_code_runs_on_the_cpu(gpu_check, tmp_path):
    """The profile and parity steps' own code, run with device cpu (the CLI takes only cuda),
    so that a GPU run does not find its bugs first."""
    args = gpu_check.parse_args(["--out", str(tmp_path / "out"), *SMALL, "--duration", "0.05"])
    args.device = "cpu"
    check = gpu_check.Check(args, tmp_path)
    shape = args.shapes[0]
    records = {"cuda": {"step": "cuda", "kind": "probe", "status": "passed", "reason": "", "seconds": 0, "result": {}}}
    for step in gpu_check.plan(check):
        if step.kind in ("checkpoint", "export", "reference") or step.name.endswith(" torch-fp32-channels-last"):
            records[step.name] = gpu_check.run_step(step, records, check)
            assert records[step.name]["status"] == "passed", records[step.name]
    name = "demo 1x3x64x64 torch-fp32-channels-last"
    row = records[f"profile {name}"]["result"]["profile"]
    assert row["memory_format"] == "channels_last" and row["median_ms"] > 0
    parity = records[f"parity {name}"]["result"]
    assert parity["argmax_agreement"] >= 99.9 and len(parity["inputs"]) == gpu_check.PARITY_INPUTS
    logits = check.references["demo", shape][1][0]
    assert 0.1 < abs(logits).max() < 1000  # conditioned weights: logits FP16 holds with its 11-bit mantissa
    md = gpu_check.markdown(gpu_check.write_report(check, list(records.values()), complete=True))
    assert f"| demo | 1x3x64x64 | torch-fp32-channels-last | {row['median_ms']:.2f} |" in md
    with pytest.raises(gpu_check.CheckFailed, match=r"argmax agreement 50.000% < 99.9% \(fp32\)"):
        got = [v.copy() for v in check.references["demo", shape][1]]
        for v in got:
            v[:, :, : v.shape[2] // 2] = -v[:, :, : v.shape[2] // 2] - 1e3  # the top half's argmax moves
        gpu_check.agreement(check.references["demo", shape][1], got, "fp32")
