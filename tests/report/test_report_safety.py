"""Issue 25 in ``c2fbench report`` and ``compare``: CSV cells a spreadsheet would run as
formulas, control characters in LaTeX, a CSV-only report of a profile, and --out kept apart
from every result. Oracles: Python's csv module reading the files back, hand-written values."""

import csv
import io
import json
import os
import re
import subprocess
import sys
import unicodedata

import pytest

from cli_helpers import assert_refused, run
from report_helpers import fake_semantic, write_run

PROFILE = {"results": [
    {"backend": "torch", "precision": "fp32", "shape": [1, 3, 64, 64], "threads": 2, "device": "cpu",
     "median_ms": 40.0, "p90_ms": 44.0, "throughput_ips": 25.0},
    {"backend": "onnxruntime", "precision": "fp16", "shape": [1, 3, 64, 64], "threads": 2, "device": "cpu",
     "median_ms": 16.0, "p90_ms": 17.5, "throughput_ips": 62.5}],
    "source": {"model": "/models/m/model.pt", "sha256": "a" * 64}}


def write_eval(folder, miou=60.0, **kwargs):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(fake_semantic(miou, **kwargs)))
    return folder


def read_csv(path):
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    return rows[0], rows[1:]


def listing(root):
    return sorted((p.relative_to(root).as_posix(), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


# ---- CSV formula injection ----

# a row's label is its folder's name by default: none of these can be written LABEL=PATH
LABELS = ["=HYPERLINK(\"x\",\"ours\")", "+cmd", "-2+3", "@SUM(A1)", "\t=1", " =1", "\r=1"]


@pytest.mark.parametrize("label", LABELS)
def test_labels_are_never_spreadsheet_formulas_and_numbers_stay_numbers(tmp_path, label):
    res = write_eval(tmp_path / label, 55.5)
    low = write_eval(tmp_path / "b", 40.25)
    out = tmp_path / "rep"
    r = run("report", "--out", out, "--format", "csv", "--", res, f"low={low}")
    assert r.exit_code == 0, r.output
    shown = "'" + " ".join(label.splitlines())  # the value, readable, as text (a table cell is one line)
    header, rows = read_csv(out / "tables" / "leaderboard.csv")
    mine = [row for row in rows if row[-1] == "yours"]
    assert sorted(row[1] for row in mine) == sorted([shown, "low"])
    for row in rows:
        assert row[1][:1] not in "=+-@\t\r", row
        assert re.fullmatch(r"\d+", row[0]) and re.fullmatch(r"-?\d+\.\d\d", row[4])
    header, rows = read_csv(out / "tables" / "per_class.csv")
    assert header[2] == shown + " (voc-val)" and header[3] == shown + " - Jing et al."
    differences = [row[3] for row in rows if row[3]]
    assert any(d.startswith("-") for d in differences)  # 55.5 lies below most of the paper's classes
    assert all(re.fullmatch(r"-?\d+\.\d\d", d) for d in differences)  # negative numbers stay numbers


def test_worst_and_confusion_csv_class_names_and_ids_are_text(tmp_path):
    from c2fbench.eval.results import _confusion_csv
    from c2fbench.eval.worst import RankedImage, worst_csv

    text = _confusion_csv([[3, 1], [-2, 4]], ["=bg", "@fg"])
    assert list(csv.reader(io.StringIO(text))) == [["gt\\pred", "'=bg", "'@fg"], ["'=bg", "3", "1"],
                                                   ["'@fg", "-2", "4"]]
    ranked = [RankedImage(1, 0, "-id", 12.5, float("nan"), missed=("+a",), extra=("b",),
                          confused=(("=c", "d", 50.0),))]
    rows = list(csv.reader(io.StringIO(worst_csv(ranked, "semantic"))))
    assert rows[1] == ["1", "'-id", "12.5000", "", "'+a", "b", "'=c>d:50.00"]


# ---- LaTeX control characters ----

def test_latex_drops_control_characters_tex_rejects(tmp_path):
    label = "ours\x07bel\x7fdel\x1besc\x9bcsi\x00nul_x"
    res = write_eval(tmp_path / "a", 55.5)
    out = tmp_path / "rep"
    r = run("report", f"{label}={res}", "--out", out, "--format", "latex")
    assert r.exit_code == 0, r.output
    for tex in (out / "tables").glob("*.tex"):
        text = tex.read_text(encoding="utf-8")
        bad = [c for c in text if unicodedata.category(c) == "Cc" and c != "\n"]
        assert bad == [], (tex.name, bad)
    board = (out / "tables" / "leaderboard.tex").read_text(encoding="utf-8")
    assert r"ours?bel?del?esc?csi?nul\_x" in board


# ---- a profile as CSV ----

def test_a_profile_alone_as_csv_writes_its_latency_table(tmp_path):
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "profile.json").write_text(json.dumps(PROFILE))
    out = tmp_path / "rep"
    r = run("report", tmp_path / "prof" / "profile.json", "--out", out, "--format", "csv")
    assert r.exit_code == 0, r.output
    header, rows = read_csv(out / "tables" / "latency.csv")
    assert header[:10] == ["model", "backend", "precision", "shape", "threads", "device", "median ms", "p90 ms",
                           "images/s", "speed-up vs torch"]
    assert [row[:10] for row in rows] == [
        ["m/model.pt", "torch", "fp32", "1x3x64x64", "2", "cpu", "40.00", "44.00", "25.00", "1.00"],
        ["m/model.pt", "onnxruntime", "fp16", "1x3x64x64", "2", "cpu", "16.00", "17.50", "62.50", "2.50"]]
    assert [row[-1] for row in rows] == ["yours", "yours"]


def test_csv_alone_for_results_without_tables_is_refused_and_writes_nothing(tmp_path):
    from c2fbench.data.coco import COCO_CLASSES

    coco = write_eval(tmp_path / "coco", 40.0, benchmark="coco-val", classes=COCO_CLASSES)
    out = tmp_path / "rep"
    r = run("report", coco, "--out", out, "--format", "csv", "--leaderboard", "paper")  # Table II is VOC's only
    assert_refused(r, out, "--format csv", "add md or html")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".rep")] == []
    r = run("report", coco, "--out", out, "--format", "csv")  # the default, both: COCO has a recent leaderboard
    assert r.exit_code == 0, r.output
    assert [p.name for p in (out / "tables").iterdir()] == ["leaderboard_recent.csv"]


# ---- --out apart from the results ----

@pytest.mark.parametrize("where", ["inside the eval folder", "inside the folder of its metrics.json",
                                   "inside the run", "holds the result"])
def test_report_out_is_apart_from_every_result(tmp_path, where):
    res = write_eval(tmp_path / "results" / "ev", 55.5)
    run_dir = write_run(tmp_path / "results" / "run", {"rounds": 2}, [50.0, 55.0])
    argument, out = {"inside the eval folder": (res, res / "rep"),
                     "inside the folder of its metrics.json": (res / "metrics.json", res / "rep"),
                     "inside the run": (run_dir, run_dir / "rep"),
                     "holds the result": (res, tmp_path / "results")}[where]
    before = listing(tmp_path)
    r = run("report", argument, "--out", out)
    assert_refused(r, None, f"--out {out}:")
    assert listing(tmp_path) == before


def test_compare_out_is_apart_from_both_results(tmp_path):
    a, b = write_eval(tmp_path / "a", 55.5), write_eval(tmp_path / "b", 50.0)
    before = listing(tmp_path)
    r = run("compare", a, b, "--out", a / "cmp")
    assert_refused(r, None, f"--out {a / 'cmp'}: lies inside RESULT_A")
    assert listing(tmp_path) == before


def test_a_staging_folder_of_a_killed_report_is_removed_by_the_next(tmp_path):
    res = write_eval(tmp_path / "a", 55.5)
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)
    stale = tmp_path / f".rep.{pid}-k1ll3d.staging"
    (stale / "figures").mkdir(parents=True)
    live = tmp_path / f".rep.{os.getpid()}-l1ve.staging"
    live.mkdir()
    r = run("report", res, "--out", tmp_path / "rep", "--format", "md")
    assert r.exit_code == 0, r.output
    assert not stale.exists() and live.is_dir() and (tmp_path / "rep" / "report.md").is_file()
