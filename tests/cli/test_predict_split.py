"""``c2fbench predict --split FILE`` (alias ``--ids``): only the listed images of a shared
folder, the same label maps as a folder holding those images alone, refusals naming the id."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from deploy_helpers import write_checkpoint  # noqa: E402
from cli_helpers import assert_refused, run


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("predict_split") / "m.pt"
    write_checkpoint(path, "deeplab_v2_vgg_lite", 3)
    return path


@pytest.fixture
def shared(tmp_path):
    """JPEGImages shared by trainval and test, with a corrupt image that no list names."""
    rng = np.random.default_rng()
    folder = tmp_path / "JPEGImages"
    folder.mkdir()
    for name in ("2008_000001.jpg", "2008_000002.jpg", "2008_000003.png", "2008_000004.jpg"):
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(folder / name)
    (folder / "2008_000009.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return folder


@pytest.mark.parametrize("option", ["--split", "--ids"])
def test_only_the_listed_images_are_predicted(ckpt, shared, tmp_path, option):
    (tmp_path / "test.txt").write_text("2008_000003\n2008_000001\n")
    r = run("predict", "--model", ckpt, "--images", shared, option, tmp_path / "test.txt", "--out", tmp_path / "pred")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["2008_000001.png", "2008_000003.png"]
    alone = tmp_path / "alone"  # the second path: a folder holding those images alone, no list
    alone.mkdir()
    for name in ("2008_000001.jpg", "2008_000003.png"):
        (alone / name).write_bytes((shared / name).read_bytes())
    r = run("predict", "--model", ckpt, "--images", alone, "--out", tmp_path / "pred_alone")
    assert r.exit_code == 0, r.output
    for name in ("2008_000001.png", "2008_000003.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "pred" / name)),
                                      np.asarray(Image.open(tmp_path / "pred_alone" / name)))


@pytest.mark.parametrize("text, fragments", [
    ("2008_000001\n2008_000404\n2008_000405\n", ["test.txt: image id 2008_000404 (and 1 more ids) not found"]),
    ("2008_000001\n2008_000001\n", ["test.txt: line 2", "image id 2008_000001 is listed twice"]),
    ("sub/2008_000001\n", ["test.txt: line 1", "not an image id"]),
    ("2008_000009\n", ["2008_000009.jpg"]),  # listed, so read up front, and refused before any write
])
def test_a_bad_list_is_refused_before_anything_is_written(ckpt, shared, tmp_path, text, fragments):
    (tmp_path / "test.txt").write_text(text)
    r = run("predict", "--model", ckpt, "--images", shared, "--split", tmp_path / "test.txt",
            "--out", tmp_path / "pred")
    assert_refused(r, tmp_path / "pred", *fragments)


def test_the_list_is_kept_apart_from_out(ckpt, shared, tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "test.txt").write_text("2008_000001\n")
    r = run("predict", "--model", ckpt, "--images", shared, "--split", tmp_path / "pred" / "test.txt",
            "--out", tmp_path / "pred")
    assert r.exit_code == 2 and "holds --split" in r.output, r.output
    assert [p.name for p in (tmp_path / "pred").iterdir()] == ["test.txt"]
