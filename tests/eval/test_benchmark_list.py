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
