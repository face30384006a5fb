"""The report folder is written as one unit: a run stopped at any step leaves the earlier
report whole (or no folder), never figures without report.html; modes follow the umask;
a folder that holds anything but a report is refused, not replaced."""

import json
import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench import atomic
from c2fbench.report import build
from report_helpers import fake_semantic


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def result(tmp_path):
    """Two results of three classes: one small figure each (a confusion matrix), so tests are quick."""
    for name, score in (("res", 55.0), ("res2", 45.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(fake_semantic(score, classes=["bg", "a", "b"])))
    return tmp_path / "res"


def report(*args):
    return CliRunner().invoke(cli, ["report", *map(str, args)])


@pytest.mark.parametrize("step", ["figure", "markdown", "html", "swap"])
@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_a_run_stopped_at_any_step_leaves_the_earlier_report_whole(result, tmp_path, monkeypatch, step, exchange):
    out = tmp_path / "rep"
    assert report(result, "--out", out).exit_code == 0
    before = snapshot(out)
    assert "report.html" in before and any(name.startswith("figures/") for name in before)

    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C (or a kill, for what is on disk) does at that point

    if step == "figure":
        real = build._write
        monkeypatch.setattr(build, "_write", lambda path, data: stop() if path.suffix == ".png" and
                            len(list(path.parent.iterdir())) >= 1 else real(path, data))
    elif step == "markdown":
        monkeypatch.setattr(build, "to_markdown", stop)
    elif step == "html":
        monkeypatch.setattr(build, "to_html", stop)
    else:
        monkeypatch.setattr(build.os, "rename", stop)
        monkeypatch.setattr(atomic, "_exchange", stop)
    if not exchange and step != "swap":
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    outcome = report(result, tmp_path / "res2", "--out", out)  # a new report: two results, more figures
    assert outcome.exit_code != 0
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "res", "res2"]  # no staging left behind


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_a_new_report_replaces_the_earlier_one_whole(result, tmp_path, monkeypatch, exchange):
    out = tmp_path / "rep"
    assert report(result, tmp_path / "res2", "--out", out).exit_code == 0
    two = snapshot(out)
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    assert report(result, "--out", out, "--title", "second").exit_code == 0
    one = snapshot(out)
    assert "second" in one["report.html"].decode()
    stale = [name for name in two if name.startswith("figures/") and "res2" in name]
    assert stale and not any(name in one for name in stale)  # the earlier report's extra figures are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "res", "res2"]


def test_a_killed_report_leaves_no_half_written_folder(result, tmp_path):
    """A real SIGKILL while the folder is being written (the first figure on disk)."""
    out = tmp_path / "rep"
    assert report(result, "--out", out).exit_code == 0
    before = snapshot(out)
    script = (
        "import os, signal, sys\n"
        "from c2fbench.report import build\n"
        "real = build._write\n"
        "def write(path, data):\n"
        "    real(path, data)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "build._write = write\n"
        "from c2fbench.cli.main import cli\n"
        "cli(sys.argv[1:])\n")
    done = subprocess.run([sys.executable, "-c", script, "report", str(result), str(tmp_path / "res2"),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    assert snapshot(out) == before


def test_modes_follow_the_umask(result, tmp_path):
    out = tmp_path / "rep"
    old = os.umask(0o027)
    try:
        assert report(result, "--out", out).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "figures").stat().st_mode) == 0o750
    for path in [out / "report.md", out / "report.html", *(out / "figures").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def test_an_out_folder_holding_other_files_is_refused_untouched(result, tmp_path):
    for out in (result, tmp_path):  # an eval folder, a folder of everything
        before = snapshot(out)
        outcome = report(result, "--out", out)
        lines = outcome.output.strip().splitlines()
        # the eval folder is the result; the folder of everything holds it
        assert outcome.exit_code == 2 and len(lines) == 1, outcome.output
        assert lines[0].startswith(f"error: --out {out}:"), outcome.output
        assert snapshot(out) == before
    (tmp_path / "file").write_text("x")
    outcome = report(result, "--out", tmp_path / "file")
    assert outcome.exit_code == 2 and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("earlier", [False, True], ids=["new folder", "earlier report"])
def test_a_full_disk_is_one_line_and_leaves_out_as_it_was(result, tmp_path, request, earlier):
    out = tmp_path / "deep" / "rep"
    if earlier:
        assert report(result, "--out", out).exit_code == 0
    before = snapshot(tmp_path)
    request.getfixturevalue("full_disk")  # from here on, every file's fsync fails
    outcome = report(result, "--out", out)
    lines = outcome.output.strip().splitlines()
    assert outcome.exit_code == 2 and len(lines) == 1, outcome.output
    assert lines[0].startswith(f"error: {out}: could not write (No space left on device)"), outcome.output
    assert snapshot(tmp_path) == before and (tmp_path / "deep").exists() == earlier
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".staging", ".tmp"))]
