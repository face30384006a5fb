"""Dependencies point one way: the evaluation and metric code imports neither the report,
the command line, the trainers nor deploy (report reads eval's results, never the reverse)."""

import ast
from pathlib import Path

import pytest

import c2fbench

PACKAGE = Path(c2fbench.__file__).parent
ABOVE = ("c2fbench.report", "c2fbench.cli", "trainers", "deploy")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "eval").glob("*.py")) + sorted((PACKAGE / "metrics").glob("*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_eval_and_metrics_import_nothing_above_them(path):
    upward = sorted(m for m in imported_modules(path) if m.startswith(ABOVE))
    assert upward == [], f"{path} imports {upward}"
