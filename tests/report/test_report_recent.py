"""``c2fbench report --leaderboard paper|recent|both``: the user's voc-val and coco-val rows
placed among the recent published methods (CSV read back with the csv module), the '*' of
extra supervision, and the default (both, the recent one first)."""

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


def headings(markdown):
    return [line[3:] for line in markdown.splitlines() if line.startswith("## ")]


def test_both_shows_the_recent_table_then_the_papers_one(evals, tmp_path):
    out = tmp_path / "rep"
    assert report(f"high={evals['high']}", "--out", out, "--leaderboard", "both", "--format", "md,csv").exit_code == 0
    assert sorted(p.name for p in (out / "tables").iterdir())[:2] == ["leaderboard.csv", "leaderboard_recent.csv"]
    markdown = (out / "report.md").read_text()
    assert headings(markdown)[:3] == ["Summary", "Recent image-level WSSS leaderboard (2019-2025)",
                                      "PASCAL VOC 2012 leaderboard (Table II)"]
    assert "Recent leaderboard: each method's own README or abstract" in markdown


def test_the_default_is_both_leaderboards_and_the_summary_says_which(evals, tmp_path):
    default, both, paper = tmp_path / "default", tmp_path / "both", tmp_path / "paper"
    args = [f"high={evals['high']}", f"coco={evals['coco']}", "--format", "md,html,csv"]
    assert report(*args, "--out", default).exit_code == 0
    assert report(*args, "--out", both, "--leaderboard", "both").exit_code == 0
    for name in ("report.md", "report.html", "tables/leaderboard.csv", "tables/leaderboard_recent.csv"):
        assert STAMP.sub(b"", (default / name).read_bytes()) == STAMP.sub(b"", (both / name).read_bytes())
    summary = (default / "report.md").read_text().split("\n## ")[1]
    assert summary.startswith("Summary") and "--leaderboard both, the default" in summary
    assert report(*args, "--out", paper, "--leaderboard", "paper").exit_code == 0
    markdown = (paper / "report.md").read_text()
    assert "## Recent" not in markdown and "recent_tables" not in markdown
    assert "the 2019-2025 leaderboard is left out" in markdown.split("\n## ")[1]  # and the summary says so
    assert not (paper / "tables" / "leaderboard_recent.csv").exists()


def test_recent_without_voc_or_coco_results_has_no_section_and_a_bad_choice_is_refused(evals, tmp_path):
    other = write_metrics(tmp_path, "train", 50.0, benchmark="voc-train")
    out = tmp_path / "rep"
    assert report(str(other), "--out", out, "--leaderboard", "recent").exit_code == 0
    markdown = (out / "report.md").read_text()
    assert not any("leaderboard" in h.lower() for h in headings(markdown))
    assert "No leaderboard: no voc-val or coco-val result" in markdown  # the summary says why
    outcome = report(str(other), "--out", tmp_path / "x", "--leaderboard", "newest")
    assert outcome.exit_code == 2 and "newest" in outcome.output


# --- seed and mask columns (VOC train) ---------------------------------------------------------

SWEEP = [{"threshold": 0.2, "mIoU": 55.0}, {"threshold": 0.25, "mIoU": 60.0}, {"threshold": 0.3, "mIoU": 58.0}]


def write_train(tmp_path, name, miou, **extra):
    """A voc-train metrics.json at ``miou`` with ``extra`` keys (cam_sweep, uncertain, ...)."""
    folder = write_metrics(tmp_path, name, miou, benchmark="voc-train")
    data = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**data, **extra}))
    return folder


def csv_rows(out):
    header, rows = read_csv(out / "tables" / "leaderboard_recent.csv")
    col = {name: header.index(name) for name in header}
    return col, {r[col["method"]]: r for r in rows}, rows


def test_a_seed_eval_fills_the_seed_column_beside_the_published_seeds(tmp_path):
    seeds = write_train(tmp_path, "cams", 60.0, cam_sweep=SWEEP, best_threshold=0.25, mIoU_ci95=[58.5, 61.25])
    out = tmp_path / "rep"
    outcome = report(str(seeds), "--out", out, "--leaderboard", "recent", "--format", "md,csv")
    assert outcome.exit_code == 0, outcome.output
    col, by_name, rows = csv_rows(out)
    mine = by_name["cams"]
    assert mine[col["VOC train seed mIoU"]] == "60.00" and mine[col["VOC train mask mIoU"]] == ""
    assert mine[col["VOC val mIoU"]] == "" and mine[col["source"]] == "yours"
    assert (mine[col["VOC train seed mIoU 95% low"]], mine[col["VOC train seed mIoU 95% high"]]) == ("58.50", "61.25")
    # ranked by seed, the only column the user filled: CLIP-ES's README seed (70.8) is above 60,
    # CLIMS's (56.6) below; every other method states none and follows
    assert [r[col["method"]] for r in rows[:3]] == ["CLIP-ES*", "cams", "CLIMS*"]
    assert by_name["CLIP-ES*"][col["VOC train seed mIoU"]] == "70.80"
    assert by_name["CLIP-ES*"][col["VOC train mask mIoU"]] == "75.00"
    assert by_name["CLIMS*"][col["VOC train seed mIoU"]] == "56.60"
    assert by_name["CLIMS*"][col["VOC train mask mIoU"]] == "70.50"
    for method in ("ToCo", "MARS", "DuPL", "SeCo", "CoSA", "MoRe", "ExCEL*"):  # no sourced number: empty
        assert by_name[method][col["VOC train seed mIoU"]] == by_name[method][col["VOC train mask mIoU"]] == ""
    markdown = (out / "report.md").read_text()
    assert "seed (VOC train)" in markdown and "60.0 \\[58.5, 61.2\\]" in markdown
    assert (out / "figures" / "leaderboard-recent-seed.png").is_file()
    assert not (out / "figures" / "leaderboard-recent-voc.png").exists()


def test_masks_are_told_from_predictions_by_uncertain_or_their_label(tmp_path):
    uncertain = write_train(tmp_path, "crf", 72.0, uncertain="ignore", coverage=90.0, uncertain_pixels=10)
    labelled = write_train(tmp_path, "grabcut", 71.0)
    plain = write_train(tmp_path, "model-on-train", 80.0)  # a model's predictions: not placed
    val_seeds = write_metrics(tmp_path, "val-cams", 50.0)  # CAM seeds scored on val: not placed
    data = json.loads((val_seeds / "metrics.json").read_text())
    (val_seeds / "metrics.json").write_text(json.dumps({**data, "cam_sweep": SWEEP, "best_threshold": 0.25}))
    val = write_metrics(tmp_path, "val", 70.0)
    out = tmp_path / "rep"
    outcome = report(str(uncertain), f"pseudo-masks={labelled}", str(plain), str(val_seeds), str(val),
                     "--out", out, "--leaderboard", "recent", "--format", "csv")
    assert outcome.exit_code == 0, outcome.output
    col, by_name, rows = csv_rows(out)
    assert len(rows) == len(published()) + 3
    assert by_name["crf (coverage 90.0%)"][col["VOC train mask mIoU"]] == "72.00"
    assert by_name["pseudo-masks"][col["VOC train mask mIoU"]] == "71.00"
    assert by_name["val"][col["VOC val mIoU"]] == "70.00" and by_name["val"][col["VOC train mask mIoU"]] == ""
    assert not {"model-on-train", "val-cams"} & set(by_name)
    # ranked by VOC val (the user has a voc-val row); the mask rows, without one, come last, by mask
    assert [r[col["method"]] for r in rows[-2:]] == ["crf (coverage 90.0%)", "pseudo-masks"]
    assert int(by_name["val"][col["rank"]]) == 1 + sum(p["voc_val_mIoU"] > 70.0 for p in published())


def test_the_mask_word_must_stand_alone_in_the_label(tmp_path):
    from c2fbench.report.inputs import ReportInput
    from c2fbench.report.recent import column_of
    from report_helpers import fake_semantic

    def item(label, **extra):
        return ReportInput("semantic", label, tmp_path, {**fake_semantic(50.0, benchmark="voc-train"), **extra})

    assert [column_of(item(label)) for label in ("masks", "GrabCut-Masks", "mask_v2", "run/mask")] == ["mask"] * 4
    assert [column_of(item(label)) for label in ("unmasked", "maskformer", "eval")] == [None] * 3
    assert column_of(item("masks", cam_sweep=SWEEP)) == "seed"  # a seed sweep is a seed, whatever its label
    assert column_of(item("eval", uncertain="background")) == "mask"
    train_aug = ReportInput("semantic", "masks", tmp_path, fake_semantic(50.0, benchmark="voc-train-aug"))
    assert column_of(train_aug) is None
