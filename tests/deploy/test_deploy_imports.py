"""Dependencies point one way (docs/DESIGN.md): the deploy modules import one another without
a circle, the core of c2fbench never imports deploy or trainers, and the command line shows
its help without numpy, torch or onnxruntime.

Imports inside functions count: Python resolves them late, but a reader follows them all the
same (``export -> runtimes -> tensorrt_build -> runtimes`` was such a circle).
"""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_names(path: Path) -> set[str]:
    """Every name ``path`` imports, at the top or in a function: ``import a.b`` gives
    ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (b may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(folder: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = {module_name(p, root): p for p in sorted(folder.glob("*.py"))}
    return {name: {m for m in imported_names(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_deploy_modules_import_one_another_without_a_circle():
    graph = import_graph(ROOT / "deploy")
    assert {"deploy.onnx_meta", "deploy.runtimes", "deploy.tensorrt", "deploy.tensorrt_build"} <= set(graph)
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import circle in deploy/: {' -> '.join(e.args[1])}")
    assert order.index("deploy.onnx_meta") < order.index("deploy.runtimes") < order.index("deploy.profile")
    assert "deploy.runtimes" not in graph["deploy.tensorrt_build"]  # the builder reads ONNX with onnx


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    """The check can fail: b imports a inside a function, a imports b at the top."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import f\n")
    (package / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    graph = import_graph(package, root=tmp_path)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg", "pkg.a"}}
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())


ABOVE_CORE = ("deploy", "trainers")


def test_the_core_imports_neither_deploy_nor_trainers():
    core = [p for p in sorted((ROOT / "c2fbench").rglob("*.py")) if "cli" not in p.relative_to(ROOT).parts]
    upward = {str(p.relative_to(ROOT)): sorted(m for m in imported_names(p) if m.split(".")[0] in ABOVE_CORE)
              for p in core}
    assert {path: names for path, names in upward.items() if names} == {}


HEAVY = ("numpy", "torch", "onnxruntime", "onnx", "tensorrt")


def test_help_needs_no_numpy_torch_or_onnxruntime():
    """``c2fbench --help`` and the deploy and compare commands' help, in a fresh interpreter."""
    commands = [["--help"], ["deploy", "--help"], *(["deploy", name, "--help"] for name in
                ("export", "parity", "profile", "quantize", "build")), ["compare", "--help"]]
    code = ("import json, sys\nfrom click.testing import CliRunner\nfrom c2fbench.cli.main import cli\n"
            f"codes = [CliRunner().invoke(cli, args).exit_code for args in {commands!r}]\n"
            f"print(json.dumps({{'codes': codes, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0] * len(commands), "loaded": []}


def test_scoring_predictions_needs_no_torch(voc_tree, tmp_path):
    """``eval --predictions`` (and its worker processes) score PNGs: importing torch would add
    seconds to every run (it did: ``c2fbench.models`` imports torch, and a check of --mean
    reached it)."""
    root, voc, _ = voc_tree
    preds = voc / "SegmentationClass"
    code = ("import json, sys\nfrom click.testing import CliRunner\nfrom c2fbench.cli.main import cli\n"
            f"r = CliRunner().invoke(cli, ['eval', 'voc-val', '--data-root', {str(root)!r}, '--predictions', "
            f"{str(tmp_path / 'pred')!r}, '--workers', '1', '--out', {str(tmp_path / 'out')!r}])\n"
            "print(json.dumps({'code': r.exit_code, 'torch': 'torch' in sys.modules}))\n")
    from c2fbench.data.png import read_label_png, write_label_png

    for path in preds.glob("*.png"):
        label = read_label_png(path)
        write_label_png(tmp_path / "pred" / path.name, (label % 255).astype("uint8"))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "torch": False}
