"""The TensorRT calls type-checked against TensorRT's own API description (tensorrt-stubs
10.13, generated from the bindings by pybind11-stubgen), since no TensorRT runs here: every
class, method, argument type and enum member the build and run code uses must exist.

``make install`` puts the stubs in ``.venv/typestubs`` (see the Makefile). Two defects of
the generated stubs stop mypy from reading them at all, and are repaired in a temporary copy
(:func:`repair_stub_line`): parameters named ``in`` (a Python keyword) in five plugin
methods, and parameters without a default after ones with a default (``add_scale_nd``).
mypy is told to ignore the remaining errors inside the stubs themselves, not in our code.
A deliberately wrong file checked the same way must fail, so the check can fail.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUBS = Path(sys.prefix) / "typestubs"
CHECKED = ["deploy/tensorrt_build.py", "deploy/tensorrt.py"]  # every call into tensorrt: the builder, the runtime
CONFIG = """\
[mypy]
follow_imports = skip
ignore_missing_imports = True
check_untyped_defs = True
[mypy-tensorrt]
follow_imports = normal
ignore_errors = True
[mypy-tensorrt_bindings.*]
follow_imports = normal
ignore_errors = True
"""
KEYWORDS = {"in", "from", "is", "lambda", "class", "def", "global", "pass"}

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (make install)"),
    pytest.mark.skipif(not (STUBS / "tensorrt_bindings" / "tensorrt.pyi").is_file(),
                       reason=f"tensorrt-stubs is not in {STUBS} (make install puts it there)"),
]


def split_top_level(params: str) -> list[str]:
    """``a: int, b: tuple[int, int] = (1, 2)`` -> its parameters (commas inside brackets kept)."""
    parts, depth, current = [], 0, ""
    for ch in params:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + ([current] if current.strip() else [])


def repair_stub_line(line: str) -> str:
    """One ``def`` line of the stubs made valid Python: keyword parameter names get a
    trailing underscore, and a parameter after a defaulted one gets ``= ...``."""
    match = re.match(r"^(\s*def \w+\()(.*)(\)\s*->.*:.*)$", line)
    if not match:
        return line
    repaired, defaulted = [], False
    for param in split_top_level(match.group(2)):
        name = re.split(r"[:=]", param.strip(), maxsplit=1)[0].strip()
        if name in KEYWORDS:
            param = param.replace(name, name + "_", 1)
        if "=" in param:
            defaulted = True
        elif defaulted and not param.strip().startswith("*"):
            param += " = ..."
        repaired.append(param)
    return match.group(1) + ",".join(repaired) + match.group(3)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("typestubs") / "stubs"
    shutil.copytree(STUBS, copy)
    pyi = copy / "tensorrt_bindings" / "tensorrt.pyi"
    text = "\n".join(repair_stub_line(line) for line in pyi.read_text().split("\n"))
    ast.parse(text)  # the repaired stubs are Python
    pyi.write_text(text)
    (copy.parent / "mypy.ini").write_text(CONFIG)
    return copy


def mypy(stubs: Path, *files) -> subprocess.CompletedProcess:
    env = {"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(stubs.parent / "mypy.ini"),
                           "--cache-dir", str(stubs.parent / "cache"), *map(str, files)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_repair_stub_line():
    assert repair_stub_line("    def f(self, in: list[int], out: list[int]) -> int:") == \
        "    def f(self, in_: list[int], out: list[int]) -> int:"
    assert repair_stub_line("    def g(self, a: W = None, b: tuple[int, int] = (1, 2), c: int) -> L:") == \
        "    def g(self, a: W = None, b: tuple[int, int] = (1, 2), c: int = ...) -> L:"
    assert repair_stub_line("    def h(self, *args, **kwargs) -> None:") == "    def h(self, *args, **kwargs) -> None:"
    assert repair_stub_line("x: int = 3") == "x: int = 3"


def test_the_tensorrt_calls_match_tensorrt_s_api(stubs):
    result = mypy(stubs, *CHECKED)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr


def test_the_check_fails_on_calls_tensorrt_does_not_have(stubs, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import tensorrt as trt\n\n\n"
                   "def build() -> None:\n"
                   "    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))\n"
                   "    builder.create_network('explicit')\n"
                   "    builder.create_builder_config().set_flag('FP16')\n"
                   "    builder.build_engine_v2()\n")
    result = mypy(stubs, bad)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'Argument 1 to "create_network" of "Builder" has incompatible type "str"; expected "int"' in result.stdout
    assert 'Argument 1 to "set_flag" of "IBuilderConfig" has incompatible type "str"' in result.stdout
    assert '"Builder" has no attribute "build_engine_v2"' in result.stdout
