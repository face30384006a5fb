"""`c2fbench list benchmarks`: every benchmark has its task, metric and data root (issue 25:
coco-val showed '-' for all three)."""

from __future__ import annotations

from c2fbench.eval.benchmarks import BENCHMARKS
from tests.cli_helpers import run


def test_every_benchmark_lists_its_task_metric_and_data_root():
    result = run("list", "benchmarks", env={"COLUMNS": "200"})  # one line a row
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) == 4 and cells[0]:
            rows[cells[0]] = cells[1:]
    assert set(BENCHMARKS) <= set(rows), result.output
    for name in BENCHMARKS:
        assert "-" not in rows[name], (name, rows[name])
    assert rows["coco-val"][:2] == ["semantic", "mIoU over 81 classes"]  # COCO's 80 categories and background


def test_coco_val_row_gives_cocos_own_sizes():
    """Issue 28: the row had no size. COCO's val2014 holds 40,504 images (Lin et al.
    arXiv:1405.0312, "Dataset Splits"); coco-labels keeps the 40,137 with an annotation,
    as its own help says."""
    listed = " ".join(run("list", "benchmarks", env={"COLUMNS": "250"}).output.split())
    row = listed.split("coco-val", 1)[1].split("mit-subset", 1)[0]
    assert "40,504" in row and "40,137" in row, row
    assert "40,137 of val2014's 40,504" in " ".join(run("data", "coco-labels", "--help",
                                                        env={"COLUMNS": "250"}).output.split())
