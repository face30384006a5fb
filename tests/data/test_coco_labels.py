"""data coco-labels with annotations that do not fit their images (issue 25): every annotation
is checked before pycocotools sees it and before the first label is written.

Oracles: hand-computed cases (a run-length string encoded by hand from the format's rules,
the point count of a rectangle at pycocotools' 5x scale, the margin's bounds), and files on
disk before and after a refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2fbench.data import coco_segmentation
from c2fbench.data.coco import COCO_CATEGORIES
from c2fbench.data.coco_labels import CocoImage, category_index, label_map
from c2fbench.data.coco_segmentation import check_polygon, rle_counts
from c2fbench.data.png import read_label_png
from c2fbench.errors import InputError
from tests.cli_helpers import assert_refused, run

CATEGORIES = [{"id": i, "name": n, "supercategory": ""} for i, n in COCO_CATEGORIES]
H, W = 6, 8  # every image here is 8 wide, 6 high
SQUARE = [[0, 0, 3, 0, 3, 3, 0, 3]]


def _ann(k, segm, image_id=1, cat=1, area=9.0):
    return {"id": k, "image_id": image_id, "category_id": cat, "segmentation": segm, "area": area, "iscrowd": 0}


def _coco(tmp_path: Path, annotations, *, images=(1, 2), names=None) -> tuple[Path, Path]:
    """An instances file and a folder of 8x6 images im1.jpg, im2.jpg, ..."""
    folder = tmp_path / "val2014"
    folder.mkdir(parents=True, exist_ok=True)
    names = names or {k: f"im{k}.jpg" for k in images}
    for k in images:
        if len(names[k]) <= 255:
            Image.new("RGB", (W, H)).save(folder / names[k])
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [{"id": k, "file_name": names[k], "height": H, "width": W} for k in images],
                                "annotations": annotations, "categories": CATEGORIES}))
    return path, folder


def _labels(ann: Path, images: Path, out: Path, *extra):
    return run("data", "coco-labels", "--annotations", ann, "--images", images, "--out", out, *extra)


# --- polygons ------------------------------------------------------------------------------

def test_a_polygon_far_outside_the_image_is_refused_not_a_crash(tmp_path):
    """The issue's polygon killed the process with SIGSEGV inside rleFrPoly: run the real
    command in its own process and read its exit status."""
    ann, images = _coco(tmp_path, [_ann(1, [[0, 0, 1e12, 0, 1e12, 1e12]])])
    out = tmp_path / "labels"
    done = subprocess.run([sys.executable, "-m", "c2fbench.cli.main", "data", "coco-labels", "--annotations", ann,
                           "--images", images, "--out", out], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "annotations[0] (id 1), image 1: polygon 0: x = 1000000000000.0 lies outside" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


@pytest.mark.parametrize("polygon, fragment", [
    ([0, 0, 17, 0, 3, 3], "x = 17 lies outside the 8x6 image (WxH) by more than the margin allowed (x from -8 to 16"),
    ([0, 0, 3, -6.5, 3, 3], "y = -6.5 lies outside"),
    ([0, 0, float("nan"), 0, 3, 3], "x = nan lies outside"),
    ([0, 0, 3, float("inf"), 3, 3], "y = inf lies outside"),
    ([0, 0, 3, 0, 3], "polygon 0: 5 coordinates (expected"),
    ([0, 0, 3, 0], "polygon 0: 4 coordinates (expected"),
    ([0, 0, "3", 0, 3, 3], "coordinate '3' is not a number"),
    ([0, 0, True, 0, 3, 3], "coordinate 'True' is not a number"),
    ([0, 0, 10 ** 400, 0, 3, 3], "lies outside"),
    ([0, 0, [3], 0, 3, 3], "coordinate '[3]' is not a number"),
    (7, "polygon 0: int (expected"),
])
def test_bad_polygons_are_refused_before_anything_is_written(tmp_path, polygon, fragment):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE), _ann(2, [polygon], image_id=2)])
    out = tmp_path / "labels"
    assert_refused(_labels(ann, images, out), out, "annotations[1] (id 2), image 2", fragment)


def test_an_empty_segmentation_is_refused(tmp_path):
    ann, images = _coco(tmp_path, [_ann(1, [])])
    assert_refused(_labels(ann, images, tmp_path / "out"), tmp_path / "out", "'segmentation' is neither polygons")


def test_the_margin_is_one_image_size_either_side(tmp_path):
    """x from -8 to 16 and y from -6 to 12 on an 8x6 image: the corners themselves pass."""
    check_polygon([-8, -6, 16, -6, 16, 12, -8, 12], H, W, "p")
    for bad in ([-8.01, 0, 1, 1, 2, 0], [0, 12.01, 1, 1, 2, 0]):
        with pytest.raises(InputError, match="lies outside"):
            check_polygon(bad, H, W, "p")
    # pycocotools clips what lies outside: the whole image is painted
    im = CocoImage("a", "a.jpg", H, W, (_ann(1, [[-8, -6, 16, -6, 16, 12, -8, 12]]),))
    assert (label_map(im, category_index(CATEGORIES, "f")) == 1).all()


def test_the_point_count_is_bounded(monkeypatch):
    """By hand: the rectangle (0,0) (8,0) (8,6) (0,6) at 5x scale has edges of 40, 30, 40
    and 30 units, each walked as units + 1 points: 144 in all."""
    rectangle = [0, 0, 8, 0, 8, 6, 0, 6]
    monkeypatch.setattr(coco_segmentation, "MAX_POLYGON_POINTS", 144)
    check_polygon(rectangle, H, W, "p")
    monkeypatch.setattr(coco_segmentation, "MAX_POLYGON_POINTS", 143)
    with pytest.raises(InputError, match="p: traces 144 boundary points .* more than the 143 allowed"):
        check_polygon(rectangle, H, W, "p")


# --- run-length encoded masks ----------------------------------------------------------------

def test_a_compressed_string_decodes_as_hand_encoded():
    """Run lengths [10, 20, 10, 8] by hand: 10 is ':' (48 + 10); 20 has bit 4 (the sign
    bit) set, so two groups: 20 | 0x20 = 52 -> 'd' (48 + 52), then 0 -> '0'; 10 again ':';
    the fourth is a difference from the second, 8 - 20 = -12, whose 5-bit two's complement
    20 (sign bit set, no more groups) is 'D'."""
    assert rle_counts({"size": [H, W], "counts": ":d0:D"}, H, W, "r") == [10, 20, 10, 8]
    im = CocoImage("a", "a.jpg", H, W, (_ann(1, {"size": [H, W], "counts": ":d0:D"}),))
    expected = np.zeros(H * W, np.uint8)
    expected[10:30] = 1
    expected[40:] = 1  # runs alternate 0, 1, 0, 1 down the columns
    np.testing.assert_array_equal(label_map(im, category_index(CATEGORIES, "f")), expected.reshape(W, H).T)


@pytest.mark.parametrize("rle, fragment", [
    ({"size": [600, 800], "counts": [480000]}, "RLE 'size' [600, 800] is not the image's [height, width], [6, 8]"),
    ({"size": [8, 6], "counts": [48]}, "RLE 'size' [8, 6] is not the image's"),
    ({"size": ["a", 4], "counts": [48]}, "RLE 'size' ['a', 4] is not [height, width] in integers"),
    ({"size": [6, 8, 1], "counts": [48]}, "is not [height, width] in integers"),
    ({"size": [6, 8], "counts": [-5, 53]}, "RLE run length 0 is -5 (expected a non-negative integer)"),
    ({"size": [6, 8], "counts": [47.5, 0.5]}, "RLE run length 0 is 47.5"),
    ({"size": [6, 8], "counts": [40, 9]}, "RLE run lengths sum to 49, expected height x width = 48"),
    ({"size": [6, 8], "counts": [40]}, "sum to 40, expected"),
    ({"size": [6, 8], "counts": []}, "sum to 0, expected"),
    ({"size": [6, 8], "counts": "Ke1"}, "RLE run length 0 is -5"),  # by hand: 'K' is -5, 'e1' is 53
    ({"size": [6, 8], "counts": "~~~"}, "character 0, '~', is outside '0'..'o'"),
    ({"size": [6, 8], "counts": "P"}, "ends inside a run length"),
    ({"size": [6, 8], "counts": "PPPPPPP0"}, "run length 0 runs past 7 characters"),
    ({"size": [6, 8], "counts": 48}, "RLE 'counts' is neither a list of run lengths nor a compressed string"),
])
def test_bad_rles_are_refused_before_anything_is_written(tmp_path, rle, fragment):
    """The last image's RLE: found before the first image's label is written."""
    ann, images = _coco(tmp_path, [_ann(1, SQUARE), _ann(2, rle, image_id=2)])
    out = tmp_path / "labels"
    assert_refused(_labels(ann, images, out), out, "annotations[1] (id 2), image 2: ", fragment)


# --- the output folder -----------------------------------------------------------------------

def test_a_rerun_with_the_corrected_file_replaces_an_unfinished_conversion(tmp_path):
    good, images = _coco(tmp_path, [_ann(1, SQUARE)])
    out = tmp_path / "labels"
    assert _labels(good, images, out, "--empty", "background").exit_code == 0
    manifest = json.loads((out / "coco_labels.json").read_text())  # as a run killed half way leaves it
    (out / "coco_labels.json").write_text(json.dumps({**manifest, "complete": False}))
    corrected = tmp_path / "corrected.json"
    data = json.loads(good.read_text())
    data["annotations"][0]["segmentation"] = [[4, 0, 7, 0, 7, 3, 4, 3]]
    corrected.write_text(json.dumps(data))
    result = _labels(corrected, images, out)
    assert result.exit_code == 0, result.output
    assert "2 of an unfinished conversion of another file or rule replaced" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["coco_labels.json", "ids.txt", "im1.png"]
    label = read_label_png(out / "im1.png")
    assert label[0, 5] == 1 and label[0, 1] == 0  # the corrected square, not the first one
    manifest = json.loads((out / "coco_labels.json").read_text())
    assert manifest["complete"] and manifest["written"] == 1 and manifest["replaced"] == 2
    # a finished conversion of another file stays the user's
    assert_refused(_labels(good, images, out), None, "made from another annotation file")
    assert read_label_png(out / "im1.png")[0, 5] == 1


def test_an_unfinished_conversion_is_kept_when_the_new_file_is_refused(tmp_path):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE)])
    out = tmp_path / "labels"
    assert _labels(ann, images, out).exit_code == 0
    manifest = json.loads((out / "coco_labels.json").read_text())
    (out / "coco_labels.json").write_text(json.dumps({**manifest, "complete": False}))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad, _ = _coco(tmp_path / "bad", [_ann(1, {"size": [H, W], "counts": [40, 9]})])
    assert_refused(_labels(bad, images, out), None, "sum to 49")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("images, annotations, fragment", [
    ((), [], "instances.json: no images in 'images'"),
    ((1, 2), [], "instances.json: none of its 2 images has an annotation, so --empty skip leaves nothing"),
])
def test_nothing_to_convert_is_refused(tmp_path, images, annotations, fragment):
    ann, folder = _coco(tmp_path, annotations, images=images)
    out = tmp_path / "labels"
    assert_refused(_labels(ann, folder, out), out, fragment)


def test_a_killed_runs_temporaries_are_removed(tmp_path):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE)])
    out = tmp_path / "labels"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".im1.png.{dead.pid}-abcd1234.tmp"
    live = out / f".im2.png.{os.getpid()}-abcd1234.tmp"
    stale.write_bytes(b"half a PNG")
    live.write_bytes(b"being written")
    result = _labels(ann, images, out)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.iterdir() if p != live) == ["coco_labels.json", "ids.txt", "im1.png"]


@pytest.mark.parametrize("length, refused", [(200, False), (201, True), (5000, True)])
def test_file_names_are_checked_up_front_naming_the_image(tmp_path, length, refused):
    name = "a" * (length - 4) + ".jpg"
    ann, images = _coco(tmp_path, [_ann(1, SQUARE, image_id=2)], names={1: "im1.jpg", 2: name})
    out = tmp_path / "labels"
    result = _labels(ann, images, out)
    if refused:
        assert_refused(result, out, "images[1] (id 2): file_name of", f"{length} characters", "at most 200")
    else:
        assert result.exit_code == 0, result.output
        assert (out / ("a" * (length - 4) + ".png")).is_file()


def test_image_sizes_are_bounded(tmp_path):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE)])
    data = json.loads(ann.read_text())
    data["images"][0].update(height=100_000, width=100_000)
    ann.write_text(json.dumps(data))
    assert_refused(_labels(ann, images, tmp_path / "out"), tmp_path / "out", "images[0] (id 1): 'height' and 'width'",
                   "64,000,000 pixels")


@pytest.mark.parametrize("where, fragment", [
    ("inside images", "lies inside --images"),
    ("holds images", "holds --images"),
    ("is images", "is --images"),
])
def test_out_apart_from_the_inputs(tmp_path, where, fragment):
    ann, images = _coco(tmp_path / "data", [_ann(1, SQUARE)])
    ann = ann.rename(tmp_path / "instances.json")
    out = {"inside images": images / "labels", "holds images": images.parent, "is images": images}[where]
    before = sorted(tmp_path.rglob("*"))
    assert_refused(_labels(ann, images, out), None, "--out", fragment)
    assert sorted(tmp_path.rglob("*")) == before


# --- JSON nested deep ------------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_annotations_are_refused(tmp_path):
    ann, images = _coco(tmp_path, [])
    ann.write_text('{"images": ' + DEEP + "}")
    out = tmp_path / "labels"
    assert_refused(_labels(ann, images, out), out, "instances.json: ")


def test_a_deeply_nested_manifest_in_out_is_refused(tmp_path):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE)])
    out = tmp_path / "labels"
    out.mkdir()
    (out / "coco_labels.json").write_text(DEEP)
    assert_refused(_labels(ann, images, out), None, "coco_labels.json: ", "give a new or empty --out folder")
    assert (out / "coco_labels.json").read_text() == DEEP


# --- the coco-val benchmark's folder ---------------------------------------------------------

@pytest.mark.parametrize("case, fragment", [
    ("deep manifest", "coco_labels.json: not valid JSON"),
    ("manifest 40 deep", "coco_labels.json: JSON nested more than 32 levels deep"),
    ("manifest not an object", "coco_labels.json: expected a JSON object"),
    ("ids not UTF-8", "ids.txt: cannot read the id list"),
    ("id too long", "is not an image id"),
])
def test_eval_coco_val_refuses_a_broken_label_folder_in_one_line(tmp_path, case, fragment):
    ann, images = _coco(tmp_path, [_ann(1, SQUARE)])
    root = tmp_path / "COCO"
    labels = root / "SegmentationClass" / "val2014"
    assert _labels(ann, images, labels).exit_code == 0
    if case == "deep manifest":
        (labels / "coco_labels.json").write_text(DEEP)
    elif case == "manifest 40 deep":
        (labels / "coco_labels.json").write_text('{"complete": ' + "[" * 40 + "]" * 40 + "}")
    elif case == "manifest not an object":
        (labels / "coco_labels.json").write_text("[]")
    elif case == "ids not UTF-8":
        (labels / "ids.txt").write_bytes(b"im1\n\xff\xfe\n")
    else:
        (labels / "ids.txt").write_text("im1\n" + "a" * 5000 + "\n")
    preds = tmp_path / "pred"
    preds.mkdir()
    assert_refused(run("eval", "coco-val", "--data-root", root, "--predictions", preds), None, fragment)
