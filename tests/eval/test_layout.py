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


GROUND_FLOOR = ("errors", "console", "atomic", "files", "parallel")


@pytest.mark.parametrize("name", GROUND_FLOOR)
def test_the_ground_floor_imports_only_the_ground_floor(name):
    """errors, console, atomic writes and worker pools: everything else may use them, and
    they use nothing else of ours (DESIGN.md, Layout)."""
    ours = sorted(m for m in imported_modules(PACKAGE / f"{name}.py")
                  if m.split(".")[0] in ("c2fbench", "trainers", "deploy"))
    assert all(m in {f"c2fbench.{g}" for g in GROUND_FLOOR} for m in ours), f"c2fbench/{name}.py imports {ours}"


def test_models_do_not_import_data_or_inference():
    """The model zoo sits below inference and beside data: checkpoints read their metadata
    checks from models/metadata.py, not from inference.py (the arrow issue 14 removed)."""
    for path in sorted((PACKAGE / "models").glob("*.py")):
        upward = sorted(m for m in imported_modules(path)
                        if m.startswith(("c2fbench.data", "c2fbench.inference", "c2fbench.eval")))
        assert upward == [], f"{path} imports {upward}"


def test_data_does_not_import_inference():
    """The readers sit below inference: the file hash they record is the ground floor's
    (files.file_sha256), not inference.py's (issue 28)."""
    for path in sorted((PACKAGE / "data").glob("*.py")):
        upward = sorted(m for m in imported_modules(path)
                        if m.startswith(("c2fbench.inference", "c2fbench.predict", "c2fbench.eval")))
        assert upward == [], f"{path} imports {upward}"
