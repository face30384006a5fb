"""benchmarks/gpu_check.py on the CPU: the dry run makes no CUDA call and records every step;
a failing step is isolated; the deadline skips; pytest's counts; the no-CUDA path; the two
halves (--prepare here, --prepared there), the steps' dependencies, the ONNX Runtime CUDA
probe, the prepared folder's size bound."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is not installed with c2fbench

from benchmarks.gpu_check_base import CALIB_IMAGES, DRY_RUN, PARITY_INPUTS, CheckFailed, Skip  # noqa: E402
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


def make_check(gpu_check, tmp_path: Path, *options: str):
    """A Check of the small options, its defaults filled as main fills them."""
    from benchmarks.gpu_check_base import Check
    from benchmarks.gpu_check_report import environment

    args = gpu_check.parse_args(["--out", str(tmp_path / "out"), *SMALL, *options])
    args.out.mkdir()
    check = Check(args, tmp_path)
    check.environment = environment(dry_run=args.dry_run)
    return check


def record(step: str, status: str = "passed", reason: str = "") -> dict:
    return {"step": step, "kind": "probe", "status": status, "reason": reason, "seconds": 0, "result": {}}


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
    assert steps["quantize demo"]["result"]["quantization"]["num_images"] == CALIB_IMAGES
    gpu = [s for s in report["steps"] if s["step"] not in ("tensorrt", "checkpoint demo", "export demo",
                                                             "quantize demo", "reference demo 1x3x64x64")]
    assert {s["kind"] for s in gpu} == {"pytest", "probe", "profile", "parity", "build-demo"}
    assert len(gpu) == 3 + 5 * 2 + 3 * 3  # pytest, cuda, ORT probe; 5 variants x 2; TensorRT 3 x 3
    assert all(s["status"] == "skipped" and s["reason"] == DRY_RUN for s in gpu)
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
    assert steps["quantize demo"] == {**steps["quantize demo"], "status": "skipped",
                                      "reason": "needs export demo, which failed"}
    assert steps["reference demo 1x3x64x64"]["result"]["by"] == "torch-cpu-fp32"  # no export: torch's logits
    assert steps["parity demo 1x3x64x64 torch-fp32"]["reason"] == DRY_RUN
    assert report["counts"]["failed"] == 1 and "exit status 1" in md


def test_the_deadline_skips_what_would_overrun(gpu_check, tmp_path, no_cuda_calls):
    out = tmp_path / "out"
    assert gpu_check.main(["--out", str(out), *SMALL, "--dry-run", "--budget-s", "0"]) == 0
    report, _ = read(out)
    cpu = [s for s in report["steps"] if s["reason"] != DRY_RUN]
    assert cpu and all(s["status"] == "skipped" and s["reason"].startswith("out of time") for s in cpu)


def test_pytest_counts_from_junit_xml(gpu_check, tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite tests="4" failures="1" errors="1" skipped="1">'
                   '<testcase classname="t" name="a"/><testcase classname="t" name="b">'
                   '<failure message="assert 1 == 2&#10;more">x</failure></testcase>'
                   '<testcase classname="t" name="c"><error message="boom"/></testcase>'
                   '<testcase classname="t" name="d"><skipped message="needs CUDA"/></testcase>'
                   '</testsuite></testsuites>')
    from benchmarks.gpu_check_pytest import junit_counts

    counts = junit_counts(xml)
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
    monkeypatch.setattr(gpu_check, "PytestRun", partial(gpu_check.PytestRun, args=["-m", "gpu", "-o", "markers=gpu",
                                                                                str(tests)]))
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
    from benchmarks.gpu_check_gpu import agreement
    from benchmarks.gpu_check_plan import plan, run_step
    from benchmarks.gpu_check_report import markdown, write_report

    check = make_check(gpu_check, tmp_path, "--duration", "0.05")
    check.args.device = "cpu"
    shape = check.args.shapes[0]
    records = {"cuda": {"step": "cuda", "kind": "probe", "status": "passed", "reason": "", "seconds": 0, "result": {}}}
    for step in plan(check):
        if step.kind in ("checkpoint", "export", "reference") or step.name.endswith(" torch-fp32-channels-last"):
            records[step.name] = run_step(step, records, check)
            assert records[step.name]["status"] == "passed", records[step.name]
    name = "demo 1x3x64x64 torch-fp32-channels-last"
    row = records[f"profile {name}"]["result"]["profile"]
    assert row["memory_format"] == "channels_last" and row["median_ms"] > 0
    parity = records[f"parity {name}"]["result"]
    assert parity["argmax_agreement"] >= 99.9 and len(parity["inputs"]) == PARITY_INPUTS
    logits = check.references["demo", shape][1][0]
    assert 0.1 < abs(logits).max() < 1000  # conditioned weights: logits FP16 holds with its 11-bit mantissa
    md = markdown(write_report(check, list(records.values()), complete=True))
    assert f"| demo | 1x3x64x64 | torch-fp32-channels-last | {row['median_ms']:.2f} |" in md
    with pytest.raises(CheckFailed, match=r"argmax agreement 50.000% < 99.9% \(fp32\)"):
        got = [v.copy() for v in check.references["demo", shape][1]]
        for v in got:
            v[:, :, : v.shape[2] // 2] = -v[:, :, : v.shape[2] // 2] - 1e3  # the top half's argmax moves
        agreement(check.references["demo", shape][1], got, "fp32")


def test_prepare_here_then_the_prepared_dry_run(gpu_check, tmp_path, no_cuda_calls):
    """--prepare writes the files and their manifest in a folder under 64 MiB; --prepared
    takes them, recomputes the reference and finds it equal to the prepared labels."""
    prep, out = tmp_path / "prep", tmp_path / "out"
    assert gpu_check.main(["--prepare", str(prep), *SMALL]) == 0
    manifest = json.loads((prep / "manifest.json").read_text())
    steps = {s["step"]: s for s in manifest["steps"]}
    assert manifest["prepare"] and not any(s["kind"] in ("profile", "parity", "pytest") for s in manifest["steps"])
    for step, file in (("checkpoint demo", "demo.pt"), ("export demo", "demo.onnx"), ("quantize demo", "demo-int8.onnx"),
                       ("reference demo 1x3x64x64", "reference-demo-1x3x64x64.npz")):
        assert steps[step]["status"] == "passed" and steps[step]["result"]["file"] == file and (prep / file).is_file()
    assert steps["prepared size"]["status"] == "passed"
    assert sum(p.stat().st_size for p in prep.rglob("*") if p.is_file()) < 64 * 2**20
    assert {"parity demo 1x3x64x64 onnxruntime-cuda", "build demo 1x3x64x64 tensorrt-int8"} <= {
        s["step"] for s in manifest["plan"]}

    assert gpu_check.main(["--dry-run", "--prepared", str(prep), "--out", str(out)]) == 0
    report, md = read(out)
    steps = {s["step"]: s for s in report["steps"]}
    assert report["options"]["shapes"] == ["1x3x64x64"] and list(report["options"]["models"]) == ["demo"]
    assert all(steps[s]["result"]["prepared"] for s in ("checkpoint demo", "export demo", "quantize demo"))
    assert steps["reference demo 1x3x64x64"]["result"]["prepared_argmax_agreement"] == 100.0
    assert report["counts"]["failed"] == 0 and f"GPU check of {prep}" in md


def test_a_model_too_large_to_prepare_is_made_on_the_gpu_machine(gpu_check, tmp_path, monkeypatch, no_cuda_calls):
    import benchmarks.gpu_check_cpu as cpu

    monkeypatch.setattr(cpu, "PREPARED_MAX_BYTES", 2**20)  # the demo model's files take about 3 MiB
    prep, out = tmp_path / "prep", tmp_path / "out"
    assert gpu_check.main(["--prepare", str(prep), *SMALL]) == 0
    steps = {s["step"]: s for s in json.loads((prep / "manifest.json").read_text())["steps"]}
    assert steps["checkpoint demo"]["reason"].startswith("too large to prepare: demo's checkpoint and ONNX files")
    assert steps["export demo"]["reason"] == steps["checkpoint demo"]["reason"] and not (prep / "demo.pt").exists()
    assert gpu_check.main(["--dry-run", "--prepared", str(prep), "--out", str(out)]) == 0
    steps = {s["step"]: s for s in read(out)[0]["steps"]}
    for name in ("checkpoint demo", "export demo", "reference demo 1x3x64x64"):  # onnx is installed here
        assert steps[name]["status"] == "passed" and "prepared" not in steps[name]["result"]


def test_the_prepared_folder_must_stay_under_its_bound(gpu_check, tmp_path, monkeypatch):
    import benchmarks.gpu_check_cpu as cpu

    check = make_check(gpu_check, tmp_path, "--dry-run")
    assert cpu.check_size(check) == []  # only --prepare has the step
    check.args.prepare = tmp_path / "prep"
    check.work = check.args.prepare
    check.work.mkdir()
    (check.work / "demo.pt").write_bytes(b"x" * 3000)
    monkeypatch.setattr(cpu, "PREPARED_MAX_BYTES", 4000)
    [step] = cpu.check_size(check)
    assert step.run()["mb"] == round(3000 / 2**20, 2)
    (check.work / "demo.onnx").write_bytes(b"x" * 1000)
    with pytest.raises(CheckFailed, match="more than the 0 MiB that travel with the repository"):
        step.run()


def test_a_profile_step_is_skipped_naming_the_input_it_lacks(gpu_check, tmp_path):
    """With the CUDA probes passed, a profile or parity step whose checkpoint, export or engine
    step failed is skipped naming it (it read check.files and died of a KeyError before)."""
    from benchmarks.gpu_check_plan import plan, run_step

    check = make_check(gpu_check, tmp_path)
    records = {r["step"]: r for r in (record("cuda"), record("onnxruntime cuda"), record("tensorrt"),
                                      record("checkpoint demo", "failed", "RuntimeError: x"),
                                      record("export demo", "skipped", "needs onnx, which is not installed here"),
                                      record("quantize demo", "skipped", "needs onnx, which is not installed here"),
                                      record("reference demo 1x3x64x64"))}
    steps = {s.name: s for s in plan(check)}
    for variant, reason in (("torch-fp32", "needs checkpoint demo, which failed"),
                            ("torch-amp-channels-last", "needs checkpoint demo, which failed"),
                            ("onnxruntime-cuda", "needs onnx, which is not installed here")):
        for kind in ("profile", "parity"):
            done = run_step(steps[f"{kind} demo 1x3x64x64 {variant}"], records, check)
            assert (done["status"], done["reason"]) == ("skipped", reason)
    records["build demo 1x3x64x64 tensorrt-fp32"] = run_step(steps["build demo 1x3x64x64 tensorrt-fp32"], records, check)
    done = run_step(steps["profile demo 1x3x64x64 tensorrt-fp32"], records, check)
    assert done["reason"] == "needs onnx, which is not installed here"


def test_a_missing_package_skips_the_step_naming_it(gpu_check, tmp_path):
    from benchmarks.gpu_check_base import Step
    from benchmarks.gpu_check_plan import run_step

    def needs_onnx():
        import onnx_not_installed_anywhere  # noqa: F401

    done = run_step(Step("export demo", needs_onnx, "export"), {}, make_check(gpu_check, tmp_path))
    assert done["status"] == "skipped"
    assert done["reason"].startswith("needs onnx_not_installed_anywhere, which is not installed here (tests/benchmarks/")


class StandInSession:
    """onnxruntime.InferenceSession's stand-in: the providers it got, and y = x + x."""

    got: list = []

    def __init__(self, model, providers):
        assert providers[0][0] == "CUDAExecutionProvider" and isinstance(model, bytes)

    def get_providers(self):
        return self.got

    def run(self, outputs, feed):
        return [feed["x"] + feed["x"]]


@pytest.mark.parametrize("listed, got, reason", [
    (["CPUExecutionProvider"], None, "no ONNX Runtime CUDA provider"),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"],
     "no ONNX Runtime CUDA: the provider is listed but a session got CPUExecutionProvider"),
    (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"], None)])
def test_the_onnxruntime_cuda_probe_opens_a_session(gpu_check, monkeypatch, listed, got, reason):
    """get_available_providers lists CUDA whenever onnxruntime-gpu is installed; a session
    whose CUDA libraries did not load falls back to the CPU, which counts as no CUDA."""
    import onnxruntime

    from benchmarks.gpu_check_gpu import probe_ort_cuda

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    monkeypatch.setattr(onnxruntime, "InferenceSession", type("Session", (StandInSession,), {"got": got}))
    if reason is None:
        assert probe_ort_cuda("cuda:0")["session_providers"] == got
    else:
        with pytest.raises(Skip, match=reason):
            probe_ort_cuda("cuda")


def test_the_probe_model_runs_on_onnx_runtime():
    """The probe's embedded ONNX model (written without onnx where the probe runs) is y = x + x."""
    import numpy as np
    import onnxruntime

    from benchmarks.gpu_check_gpu import PROBE_ONNX

    session = onnxruntime.InferenceSession(PROBE_ONNX, providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.full((1, 4), 1.5, np.float32)})[0].tolist() == [[3.0] * 4]


def test_pytest_gets_only_the_files_with_gpu_tests():
    from benchmarks.gpu_check_pytest import PytestRun, gpu_test_files

    files = gpu_test_files()
    assert "tests/deploy/test_profile.py" in files and "tests/deploy/test_tensorrt.py" in files
    assert "tests/benchmarks/test_gpu_check.py" not in files  # its "@pytest.mark.gpu" is inside a string
    assert PytestRun(ROOT, timeout_s=1).args == ["-m", "gpu", *files]
