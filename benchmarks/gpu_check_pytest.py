"""``pytest -m gpu`` on the test files that hold gpu tests, in a child process, judged by its counts.

Only the files with a ``@pytest.mark.gpu`` line are given to pytest: collecting the whole
tree imports click, OpenCV, scikit-learn, hypothesis and matplotlib, which a bare GPU
machine lacks (41 collection errors, no test run). Those files import such packages inside
their tests, so they collect with torch, torchvision, numpy, pillow and onnxruntime (and
pytest).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.gpu_check_base import ROOT, CheckFailed, Skip

GPU_MARK = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\s*=.*\bpytest\.mark\.gpu\b)", re.MULTILINE)


def gpu_test_files(tests: Path = ROOT / "tests") -> list[str]:
    """The test files (relative to the repository) with a line marking a test ``gpu``."""
    return [str(p.relative_to(ROOT)) for p in sorted(tests.rglob("test_*.py")) if GPU_MARK.search(p.read_text())]


class PytestRun:
    """``pytest -m gpu FILES`` in a child process of its own session (killed as a group on
    timeout), with its output in ``DIR/pytest_gpu.log`` and counts from ``DIR/pytest_gpu.xml``."""

    def __init__(self, out: Path, *, timeout_s: float, args: list[str] | None = None) -> None:
        self.out, self.timeout_s = out, timeout_s
        self.args = args if args is not None else ["-m", "gpu", *gpu_test_files()]
        self.log, self.xml = out / "pytest_gpu.log", out / "pytest_gpu.xml"
        self.proc, self.started, self.missing = None, 0.0, ""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
                "--continue-on-collection-errors", f"--junitxml={self.xml}", *self.args]

    def start(self) -> None:
        if importlib.util.find_spec("pytest") is None:
            self.missing = (f"pytest is not installed for {sys.executable} (make gpu-check installs it from "
                            "gpu-check/prepared/wheels, which make gpu-prepare fills)")
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
