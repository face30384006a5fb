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
    assert "main (synthetic) (refined with GrabCut): val" in rounds["header"]
    assert "real (trained on bounding boxes): val" in rounds["header"]
    (lines, _), = drawn
    assert sorted(lines) == ["coarse (synthetic) (trained on coarse masks)", "main (synthetic) (refined with GrabCut)",
                             "real (trained on bounding boxes)"]


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
