"""docs/python-api.md runs as written: every ```python block is executed on its own (a fresh
namespace, as a reader would paste it), its asserts check hand-computed values, and a ```text
block right after it must be exactly what it printed. Also: the page names every export of
c2fbench.metrics, each export has a docstring, and the docstring examples in the metrics
modules pass (pytest does not run doctests by default)."""

import contextlib
import doctest
import importlib
import io
import re
from pathlib import Path

import pytest

import c2fbench.metrics

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def blocks() -> list[tuple[int, str, str | None]]:
    """(line, code, expected output or None) of each python block, in page order."""
    text = PAGE.read_text()
    fences = [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(), m.end())
              for m in FENCE.finditer(text)]
    found = []
    for k, (lang, body, line, _, end) in enumerate(fences):
        if lang != "python":
            continue
        after = fences[k + 1] if k + 1 < len(fences) else None
        expected = after[1] if after and after[0] == "text" and not text[end:after[3]].strip() else None
        found.append((line, body, expected))
    return found


def test_the_page_has_its_examples():
    found = blocks()
    assert len(found) >= 6
    assert sum(expected is not None for _, _, expected in found) >= 3


@pytest.mark.parametrize("line, code, expected", blocks(), ids=[f"line-{line}" for line, _, _ in blocks()])
def test_example_runs_and_prints_what_the_page_shows(line, code, expected):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, f"{PAGE}:{line}", "exec"), {"__name__": f"python_api_line_{line}"})
    if expected is not None:
        assert printed.getvalue() == expected


def test_the_page_names_every_export():
    text = PAGE.read_text()
    missing = [name for name in c2fbench.metrics.__all__ if f"`{name}`" not in text and f"{name}(" not in text]
    assert not missing


def test_every_export_and_its_public_methods_have_docstrings():
    undocumented = []
    for name in c2fbench.metrics.__all__:
        obj = getattr(c2fbench.metrics, name)
        if not (obj.__doc__ or "").strip():
            undocumented.append(name)
        if isinstance(obj, type):
            undocumented += [f"{name}.{m}" for m, f in vars(obj).items()
                             if callable(f) and not m.startswith("_") and not (f.__doc__ or "").strip()]
    assert not undocumented


@pytest.mark.parametrize("module", ["confusion", "foreground", "semantic", "bootstrap", "sweep"])
def test_docstring_examples_pass(module):
    result = doctest.testmod(importlib.import_module(f"c2fbench.metrics.{module}"), verbose=False)
    assert result.failed == 0
