"""``c2fbench report --leaderboard paper|recent|both``: the user's voc-val and coco-val rows
placed among the recent published methods (CSV read back with the csv module), the '*' of
extra supervision, and the default report unchanged."""

import json

import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.data.coco import COCO_CLASSES
from c2fbench.leaderboard.recent import recent_tables
from report_helpers import fake_semantic
from test_report_formats import STAMP, read_csv


def write_metrics(tmp_path, name, miou, **kwargs):
    ci = kwargs.pop("ci", None)
    data = fake_semantic(miou, **kwargs)
    if ci:
        data["mIoU_ci95"] = list(ci)
    (tmp_path / name).mkdir()
    (tmp_path / name / "metrics.json").write_text(json.dumps(data))
    return tmp_path / name


def report(*args):
    outcome = CliRunner().invoke(cli, ["report", *map(str, args)])
    return outcome


def published():
    return recent_tables()["recent"]["rows"]


@pytest.fixture
def evals(tmp_path):
    """A voc-val result at 75.0 with an interval, one at 10.0, and a coco-val result at 47.0."""
    return {"high": write_metrics(tmp_path, "high", 75.0, ci=(73.5, 76.25)),
            "low": write_metrics(tmp_path, "low", 10.0),
            "coco": write_metrics(tmp_path, "coco", 47.0, benchmark="coco-val", classes=COCO_CLASSES)}


def test_recent_places_voc_rows_by_val_and_coco_rows_in_the_coco_column(evals, tmp_path):
    out = tmp_path / "rep"
    outcome = report(f"high={evals['high']}", f"low={evals['low']}", f"coco={evals['coco']}", "--out", out,
                     "--leaderboard", "recent", "--format", "md,csv,latex")
    assert outcome.exit_code == 0, outcome.output
    header, rows = read_csv(out / "tables" / "leaderboard_recent.csv")
    assert header[:3] == ["rank", "method", "venue"] and header[-1] == "source"
    col = {name: header.index(name) for name in header}
    assert len(rows) == len(published()) + 3
    by_name = {r[col["method"]]: r for r in rows}
    # the oracle: 1 + the number of rows with a higher VOC val (published ones counted from the file)
    for name, miou in (("high", 75.0), ("low", 10.0)):
        row = by_name[name]
        assert int(row[col["rank"]]) == 1 + (name == "low") + sum(
            p["voc_val_mIoU"] is not None and p["voc_val_mIoU"] > miou for p in published())
        assert row[col["VOC val mIoU"]] == f"{miou:.2f}" and row[col["COCO val mIoU"]] == ""
        assert row[col["source"]] == "yours" and row[col["venue"]] == "your result"
    assert (by_name["high"][col["VOC val mIoU 95% low"]], by_name["high"][col["VOC val mIoU 95% high"]]) == \
        ("73.50", "76.25")
    coco = by_name["coco"]
    assert coco[col["COCO val mIoU"]] == "47.00" and coco[col["VOC val mIoU"]] == ""
    assert int(coco[col["rank"]]) == len(rows)  # ranked by VOC val: a row without one comes last
    # every published number and id is carried over, with '*' on the methods with extra supervision
    for p in published():
        name = p["method"] + ("" if p["extra_supervision"] == "none" else "*")
        row = by_name[name]
        assert row[col["arXiv"]] == p["arxiv"] and row[col["backbone"]] == p["backbone"]
        assert row[col["extra supervision"]] == p["extra_supervision"] and row[col["source"]] == "paper"
        for key, column in (("voc_val_mIoU", "VOC val mIoU"), ("voc_test_mIoU", "VOC test mIoU"),
                            ("coco_val_mIoU", "COCO val mIoU")):
            assert row[col[column]] == ("" if p[key] is None else f"{p[key]:.2f}")
    assert {r[col["method"]] for r in rows if r[col["method"]].endswith("*")} == {"CLIMS*", "CLIP-ES*", "ExCEL*"}
    markdown = (out / "report.md").read_text()
    assert "Recent image-level WSSS leaderboard" in markdown and "Table II" not in markdown.split("## ")[2]
    assert "'\\*' marks methods that use supervision beyond image-level labels" in markdown
    assert "75.0 \\[73.5, 76.2\\]" in markdown  # with_ci's one decimal, brackets escaped
    assert sorted(p.name for p in (out / "figures").iterdir() if "leaderboard" in p.name) == \
        ["leaderboard-recent-coco.png", "leaderboard-recent-voc.png"]
    latex = (out / "tables" / "leaderboard_recent.tex").read_text()
    assert "\\textbf{high}\\dag" in latex and "\\textbf{coco}\\dag" in latex and "CLIP-ES*" in latex
    assert not (out / "tables" / "leaderboard.csv").exists()  # the paper's Table II is not shown


def test_coco_results_alone_are_ranked_by_coco_val(evals, tmp_path):
    out = tmp_path / "rep"
    assert report(f"coco={evals['coco']}", "--out", out, "--leaderboard", "recent", "--format", "csv").exit_code == 0
    header, rows = read_csv(out / "tables" / "leaderboard_recent.csv")
    col = {name: header.index(name) for name in header}
    coco = next(r for r in rows if r[col["method"]] == "coco")
    assert int(coco[col["rank"]]) == 1 + sum(p["coco_val_mIoU"] is not None and p["coco_val_mIoU"] > 47.0
                                             for p in published())
    values = [float(r[col["COCO val mIoU"]]) for r in rows if r[col["COCO val mIoU"]]]
    assert values == sorted(values, reverse=True)


def test_both_shows_the_papers_table_then_the_recent_one(evals, tmp_path):
    out = tmp_path / "rep"
    assert report(f"high={evals['high']}", "--out", out, "--leaderboard", "both", "--format", "md,csv").exit_code == 0
    assert sorted(p.name for p in (out / "tables").iterdir())[:2] == ["leaderboard.csv", "leaderboard_recent.csv"]
    markdown = (out / "report.md").read_text()
    assert markdown.index("(Table II)") < markdown.index("Recent image-level WSSS leaderboard")
    assert "Recent leaderboard: each method's own README or abstract" in markdown


def test_the_default_is_the_papers_leaderboard_alone_and_unchanged(evals, tmp_path):
    default, paper = tmp_path / "default", tmp_path / "paper"
    args = [f"high={evals['high']}", f"coco={evals['coco']}", "--format", "md,html,csv"]
    assert report(*args, "--out", default).exit_code == 0
    assert report(*args, "--out", paper, "--leaderboard", "paper").exit_code == 0
    for name in ("report.md", "report.html", "tables/leaderboard.csv"):
        assert STAMP.sub(b"", (default / name).read_bytes()) == STAMP.sub(b"", (paper / name).read_bytes())
    markdown = (default / "report.md").read_text()
    assert "Recent" not in markdown and "recent_tables" not in markdown
    assert not (default / "tables" / "leaderboard_recent.csv").exists()


def test_recent_without_voc_or_coco_results_has_no_section_and_a_bad_choice_is_refused(evals, tmp_path):
    other = write_metrics(tmp_path, "train", 50.0, benchmark="voc-train")
    out = tmp_path / "rep"
    assert report(str(other), "--out", out, "--leaderboard", "recent").exit_code == 0
    assert "leaderboard" not in (out / "report.md").read_text().lower()
    outcome = report(str(other), "--out", tmp_path / "x", "--leaderboard", "newest")
    assert outcome.exit_code == 2 and "newest" in outcome.output
