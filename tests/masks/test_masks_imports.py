"""The masks modules import one another one way (issue 28): categories.py (round 0's label
maps and strategy (a), drop_outside) comes before refine.py (the rounds after), so refine
imports categories and categories imports nothing of refine, at module level or inside a
function."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

import c2fbench

MASKS = Path(c2fbench.__file__).parent / "masks"


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):  # ast.walk: imports inside functions too
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_categories_does_not_import_refine_and_refine_imports_categories():
    assert not {m for m in imported(MASKS / "categories.py") if m.startswith("c2fbench.masks.refine")} - {
        "c2fbench.masks.refine_config"}
    assert "c2fbench.masks.categories" in imported(MASKS / "refine.py")


def test_either_module_imports_first_in_a_fresh_interpreter():
    for first, second in (("categories", "refine"), ("refine", "categories")):
        code = f"import c2fbench.masks.{first}, c2fbench.masks.{second}"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_drop_outside_by_hand_and_refine_uses_the_same_function():
    from c2fbench.masks import categories, refine
    from c2fbench.masks.refine_config import RefineConfig

    assert refine.drop_outside is categories.drop_outside
    label = np.zeros((10, 10), np.uint8)
    label[:3, :3] = 5  # 9 of 100 pixels foreground
    cfg = RefineConfig(min_foreground=0.10, max_foreground=0.80)
    dropped, event = categories.drop_outside(label, cfg)
    assert event == "dropped_small" and (dropped == 255).all()
    kept, event = categories.drop_outside(label, RefineConfig(min_foreground=0.09))
    assert event is None and kept is label
