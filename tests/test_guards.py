"""The shared guards every command uses: an output apart from its inputs
(c2fbench.files.check_output_apart), the one JSON reader (c2fbench.jsonfile), and the removal
of temporaries left by a killed run (c2fbench.atomic.remove_stale_temporaries)."""

import json
import os
import subprocess
import sys

import pytest

from c2fbench.atomic import atomic_open, remove_stale_temporaries, temporary_target
from c2fbench.errors import InputError
from c2fbench.files import check_output_apart
from c2fbench.jsonfile import depth, parse_json, read_json, read_json_object


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "preds").mkdir()
    (tmp_path / "preds" / "a.png").write_bytes(b"png")
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    return tmp_path


@pytest.mark.parametrize("out,why", [
    ("preds", "is --predictions"),                 # the folder itself
    ("preds/a.png", "lies inside --predictions"),  # a file in it
    ("preds/eval", "lies inside --predictions"),   # a folder in it
    ("model.onnx", "is the model"),
    (".", "holds --predictions"),                  # a folder holding an input
])
def test_output_on_an_input_is_refused(tree, out, why):
    with pytest.raises(InputError, match=why):
        check_output_apart(tree / out, {"--predictions": tree / "preds", "the model": tree / "model.onnx"})


def test_output_apart_from_inputs_passes(tree):
    check_output_apart(tree / "results", {"--predictions": tree / "preds", "the model": tree / "model.onnx",
                                          "--split": None})
    check_output_apart(tree / "preds-eval", {"--predictions": tree / "preds"})  # a shared prefix is no parent


def test_a_link_to_an_input_is_that_input(tree):
    (tree / "link").symlink_to(tree / "model.onnx")
    with pytest.raises(InputError, match="--out .*link: is the model"):
        check_output_apart(tree / "link", {"the model": tree / "model.onnx"})
    (tree / "dirlink").symlink_to(tree / "preds")
    with pytest.raises(InputError, match="lies inside --predictions"):
        check_output_apart(tree / "dirlink" / "x", {"--predictions": tree / "preds"})


@pytest.mark.parametrize("value,expected", [(1, 0), ("s", 0), ([], 1), ({}, 1), ([1, [2, [3]]], 3),
                                            ({"a": [{"b": 1}], "c": 2}, 3), ([[], [[[]]], []], 4)])
def test_depth_by_hand(value, expected):
    assert depth(value) == expected


@pytest.mark.parametrize("levels", [33, 990, 100_000])
def test_deep_json_is_one_error_naming_the_source(levels):
    text = "[" * levels + "]" * levels
    with pytest.raises(InputError, match="config.json: .*(nested|not valid JSON)"):
        parse_json(text, "config.json")


def test_json_at_the_depth_limit_and_bad_numbers():
    assert depth(parse_json("[" * 32 + "]" * 32, "x")) == 32
    with pytest.raises(InputError, match="x: not valid JSON"):
        parse_json("1" * 5000, "x")  # past Python's 4300-digit limit
    with pytest.raises(InputError, match="x: not valid JSON"):
        parse_json("{'a': 1}", "x")


def test_read_json_names_the_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": [1, 2]}).encode())  # a BOM is no error
    assert read_json_object(path, "config file") == {"a": [1, 2]}
    path.write_text("[1]")
    with pytest.raises(InputError, match="c.json: expected a JSON object"):
        read_json_object(path, "config file")
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="c.json: cannot read"):
        read_json(path)
    with pytest.raises(InputError, match="not a regular file"):
        read_json(tmp_path)


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_temporaries_carry_the_writers_pid(tmp_path):
    with atomic_open(tmp_path / "out.png") as f:
        temps = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert [temporary_target(n) for n in temps] == [("out.png", os.getpid())]
        f.write(b"x")
    assert os.listdir(tmp_path) == ["out.png"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".a.png.{dead}-x1.tmp").write_bytes(b"half")                 # killed writer: removed
    (tmp_path / f".run.{dead}-x2.staging").mkdir()                            # killed staging folder: removed
    (tmp_path / f".run.{dead}-x2.staging" / "m.json").write_text("{}")
    (tmp_path / f".a.png.{os.getpid()}-x3.tmp").write_bytes(b"mine")           # this process: kept
    (tmp_path / ".b.png.abcd.tmp").write_bytes(b"old style, fresh")            # no pid, fresh: kept
    old = tmp_path / ".c.png.abcd.tmp"
    old.write_bytes(b"old style, old")                                        # no pid, old: removed
    os.utime(old, (0, 0))
    (tmp_path / f".other.{dead}-x4.tmp").write_bytes(b"not asked for")         # another target: kept
    (tmp_path / "a.png").write_bytes(b"done")                                 # not a temporary: kept
    assert remove_stale_temporaries(tmp_path, {"a.png", "run", "b.png", "c.png"}) == 3
    assert sorted(os.listdir(tmp_path)) == sorted([f".a.png.{os.getpid()}-x3.tmp", ".b.png.abcd.tmp",
                                                   f".other.{dead}-x4.tmp", "a.png"])
    assert remove_stale_temporaries(tmp_path) == 1  # every target: the other one too


def test_a_storage_error_crosses_a_process_boundary_whole():
    # a worker's full disk reaches the pool's parent as the same one-line error
    import errno
    import pickle

    from c2fbench.atomic import StorageError

    e = StorageError(os.path.join("out", "a.png"), OSError(errno.ENOSPC, "No space left on device"))
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is StorageError and str(back) == str(e) and back.os_error.errno == errno.ENOSPC


@pytest.mark.parametrize("std", [1e-50, 1e-39, 1e-40])  # 0 or subnormal in float32: 1 / std overflows
def test_a_std_that_is_zero_or_overflows_in_float32_is_refused(std):
    import numpy as np

    from c2fbench.models.metadata import check_normalization

    with np.errstate(over="ignore", divide="ignore"):
        assert not np.isfinite(np.float32(1) / np.float32(std))  # the oracle: float32 itself
    with pytest.raises(InputError, match="overflow float32"):
        check_normalization({"mean": [0.5, 0.5, 0.5], "std": [std] * 3}, where="--mean/--std: ")
    assert check_normalization({"mean": [0.5] * 3, "std": [1e-30] * 3}, where="")["std"] == [1e-30] * 3
