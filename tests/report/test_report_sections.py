"""Report sections on fabricated results: training runs on the synthetic benchmark marked as
such (Table I, Fig. 6 and the rounds table), the parity table's verdict from the recorded
tolerance and its model column, and ``report --help``."""

import json

from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.report import figures
from report_helpers import fake_semantic, write_run
from test_report import parse


def _report(tmp_path, *args):
    out = tmp_path / "rep"
    outcome = CliRunner().invoke(cli, ["report", *map(str, args), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    return parse(out / "report.html")


def test_synthetic_training_runs_are_marked_as_such(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(figures, "rounds_png", lambda lines, **kw: drawn.append((lines, kw)) or b"\x89PNG")
    main = write_run(tmp_path / "main", {"rounds": 2, "refine_grabcut": True, "enhance_initial": True},
                     [0.0, 0.0], synthetic=True)
    coarse = write_run(tmp_path / "coarse", {"rounds": 1, "enhance_initial": False}, [0.0], synthetic=True)
    real = write_run(tmp_path / "real", {"rounds": 1, "initial_boxes": True}, [0.0], synthetic=False)
    page = _report(tmp_path, f"main={main}", f"coarse={coarse}", f"real={real}")

    table1 = page.table("Mask quality")
    runs = {row[0]: row[3] for row in table1["rows"]}
    assert runs == {"Coarse Masks": "coarse (synthetic)", "Bounding Boxes": "real",
                    "Enhanced Masks": "main (synthetic)", "Refined Masks": "main (synthetic)"}
    rounds = page.table("Validation score")
    assert [row[:3] for row in rounds["rows"]] == [["main (synthetic)", "refined with GrabCut", "1"],
                                                   ["main (synthetic)", "refined with GrabCut", "2"],
                                                   ["coarse (synthetic)", "trained on coarse masks", "1"],
                                                   ["real", "trained on bounding boxes", "1"]]
    (lines, _), = drawn
    assert sorted(lines) == ["coarse (synthetic) (trained on coarse masks)", "main (synthetic) (refined with GrabCut)",
                             "real (trained on bounding boxes)"]


def test_a_synthetic_result_gets_no_difference_to_the_papers_classes(tmp_path):
    """-69.5 for aeroplane says nothing about drawn shapes: no "- paper" column for a synthetic
    voc-val result, the column as before for a real one (and the CSV alike)."""
    for name, synthetic in (("synth", True), ("real", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(fake_semantic(40.0, synthetic=synthetic)))
    outcome = CliRunner().invoke(cli, ["report", str(tmp_path / "synth"), str(tmp_path / "real"), "--out",
                                       str(tmp_path / "rep"), "--format", "html,csv"])
    assert outcome.exit_code == 0, outcome.output
    header = parse(tmp_path / "rep" / "report.html").table("Per-class IoU")["header"]
    assert header[2:] == ["synth (synthetic) (voc-val)", "real (voc-val)", "real − paper"]
    csv_header = (tmp_path / "rep" / "tables" / "per_class.csv").read_text().splitlines()[0].split(",")
    assert [h for h in csv_header if h.startswith(("synth", "real"))] == [
        "synth (synthetic) (voc-val)", "real (voc-val)", next(h for h in csv_header if h.startswith("real -"))]


def test_a_summary_gives_the_table_i_rows_and_marks_unstable_speed_ups(tmp_path):
    main = write_run(tmp_path / "main", {"rounds": 2, "refine_grabcut": True, "enhance_initial": True}, [40.0, 44.0])
    coarse = write_run(tmp_path / "coarse", {"rounds": 1, "enhance_initial": False}, [30.0])
    row = {"shape": [1, 3, 64, 64], "threads": 2, "device": "cpu", "p90_ms": 1.0, "throughput_ips": 1.0}
    profile = {"results": [
        {**row, "backend": "torch", "precision": "fp32", "median_ms": 40.0, "unstable": False, "vs": []},
        {**row, "backend": "onnxruntime", "precision": "fp32", "median_ms": 10.0, "unstable": False,
         "vs": [{"backend": "torch", "precision": "fp32", "median_ms": 40.0, "ratio": 4.0, "unstable": False}]},
        {**row, "backend": "onnxruntime", "precision": "int8", "median_ms": 8.0, "unstable": True,
         "vs": [{"backend": "torch", "precision": "fp32", "median_ms": 40.0, "ratio": 5.0, "unstable": True},
                {"backend": "onnxruntime", "precision": "fp32", "median_ms": 10.0, "ratio": 1.25, "unstable": True}]}]}
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "profile.json").write_text(json.dumps(profile))
    out = tmp_path / "rep"
    assert CliRunner().invoke(cli, ["report", f"main={main}", f"coarse={coarse}", str(tmp_path / "prof"),
                                    "--out", str(out)]).exit_code == 0
    summary = (out / "report.md").read_text().split("\n## ")[1]
    assert "coarse masks 30.0 (paper 32.5)" in summary and "refined masks 44.0 (paper 50.4)" in summary
    speed = parse(out / "report.html").table("Speed")
    assert [r[4:] for r in speed["rows"]] == [["1.00x", "—", "stable"], ["4.00x", "—", "stable"],
                                              ["5.00x (unstable)", "1.25x (unstable)", "UNSTABLE"]]
    best = parse(out / "report.html").table("Best round")
    assert [r[2:4] for r in best["rows"]] == [["2 of 2", "mIoU 44.00"], ["1 of 1", "mIoU 30.00"]]


def test_the_parity_table_says_pass_or_fail_from_the_recorded_tolerance(tmp_path):
    for name, shift, tolerance in (("close", 0.05, 0.1), ("far", -0.5, 0.1), ("edge", 0.25, 0.25),
                                   ("untold", 3.0, None)):
        parity = {"benchmark": "voc-val", "reference": fake_semantic(50.0, model=f"/runs/{name}/final.pt"),
                  "deployed": fake_semantic(50.0 + shift, model=f"/deploy/{name}/model.onnx")}
        if tolerance is not None:
            parity["tolerance"] = tolerance
        (tmp_path / name).mkdir()
        (tmp_path / name / "parity.json").write_text(json.dumps(parity))
    page = _report(tmp_path, *(tmp_path / n for n in ("close", "far", "edge", "untold")))
    table = page.table("Accuracy of the deployed model")
    column = table["header"].index("within tolerance")
    verdicts = {row[0]: row[column] for row in table["rows"]}
    assert verdicts == {"close": "pass", "far": "FAIL", "edge": "pass", "untold": "—"}
    models = {row[0]: row[2:4] for row in table["rows"]}
    assert models["far"] == ["far/final.pt", "far/model.onnx"]  # which run's final.pt


def test_report_help_describes_every_option_and_gives_an_example():
    import click

    from c2fbench.cli.report import report

    for param in report.params:
        if isinstance(param, click.Option):
            assert param.help, param.name
    text = CliRunner().invoke(cli, ["report", "--help"]).output
    assert "Examples:" in text and "c2fbench report " in text.split("Examples:")[1]
