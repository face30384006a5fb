"""COCO 2014: instance annotations -> label maps (data coco-labels) and the coco-val benchmark.

Oracles: pycocotools' own decoding, hand-drawn annotations whose label map is known, the
synthetic scene's VOC label map (drawn by the renderer, not by the converter), and
scikit-learn's confusion matrix for the scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from c2fbench.data.coco import COCO_CATEGORIES, COCO_CLASSES
from c2fbench.data.coco_labels import CocoImage, category_index, label_map
from c2fbench.data.png import read_label_png, write_label_png
from c2fbench.data.synth.coco import VOC_TO_COCO, uncompressed_rle
from c2fbench.data.voc import VOC_CLASSES
from c2fbench.errors import InputError
from tests.cli_helpers import assert_refused, run

CATEGORIES = [{"id": i, "name": n, "supercategory": ""} for i, n in COCO_CATEGORIES]


def test_category_ids_become_1_to_80_in_id_order():
    index = category_index(CATEGORIES, "f")
    # by hand: ids 1..11 are contiguous, 12 is missing, 26 is missing, 90 is the last
    assert index[1] == 1 and index[11] == 11 and index[13] == 12 and index[25] == 24 and index[27] == 25
    assert index[90] == 80 and sorted(index.values()) == list(range(1, 81))
    assert [COCO_CLASSES[index[i]] for i in (1, 13, 90)] == ["person", "stop sign", "toothbrush"]
    assert len(COCO_CLASSES) == 81 and COCO_CLASSES[0] == "background"


@pytest.mark.parametrize("change, fragment", [
    (lambda c: c + [{"id": 91, "name": "x"}], "category id 91 is not one of COCO's"),
    (lambda c: c[1:], "category id 1 (person) is missing"),
    (lambda c: [{**c[0], "name": "human"}] + c[1:], "named 'human'"),
    (lambda c: {"id": 1}, "'categories' is not a list"),
])
def test_other_categories_are_refused(change, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        category_index(change([dict(c) for c in CATEGORIES]), "f")


def _square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def _ann(k, cat, segm, area, crowd=0):
    return {"id": k, "image_id": 1, "category_id": cat, "segmentation": segm, "area": area, "iscrowd": crowd}


def _decode(segm, h, w):
    from pycocotools import mask as mask_utils

    rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w)) if isinstance(segm, list) \
        else mask_utils.frPyObjects(segm, h, w) if isinstance(segm["counts"], list) else segm
    return mask_utils.decode(rle).astype(bool)


def test_smaller_instance_wins_where_instances_overlap():
    h = w = 20
    big, small = _square(0, 0, 15, 15), _square(5, 5, 9, 9)
    # the big one (dog, 18 -> 17) comes first in the file; the small (cat, 17 -> 16) still wins
    im = CocoImage("a", "a.jpg", h, w, (_ann(1, 18, big, 225.0), _ann(2, 17, small, 16.0)))
    label = label_map(im, category_index(CATEGORIES, "f"))
    expected = np.zeros((h, w), np.uint8)
    expected[_decode(big, h, w)] = 17
    expected[_decode(small, h, w)] = 16
    np.testing.assert_array_equal(label, expected)
    # equal areas: the earlier annotation in the file keeps the overlap
    im = CocoImage("a", "a.jpg", h, w, (_ann(1, 18, big, 50.0), _ann(2, 17, small, 50.0)))
    assert label_map(im, category_index(CATEGORIES, "f"))[7, 7] == 17


def test_crowd_regions_as_class_or_void():
    h = w = 16
    person = _square(0, 0, 5, 5)
    crowd_mask = np.zeros((h, w), bool)
    crowd_mask[3:12, 3:12] = True
    crowd = uncompressed_rle(crowd_mask)
    assert np.array_equal(_decode(crowd, h, w), crowd_mask)  # pycocotools reads our RLE as the mask
    im = CocoImage("a", "a.jpg", h, w, (_ann(1, 1, person, 36.0), _ann(2, 3, crowd, 81.0, crowd=1)))
    index = category_index(CATEGORIES, "f")
    as_class, as_void = label_map(im, index), label_map(im, index, crowd="void")
    person_mask = _decode(person, h, w)
    assert (as_class[person_mask] == 1).all() and (as_void[person_mask] == 1).all()
    rest = crowd_mask & ~person_mask
    assert (as_class[rest] == 3).all() and (as_void[rest] == 255).all()
    assert (as_class[~crowd_mask & ~person_mask] == 0).all()


def test_compressed_rle_and_a_wrong_size_rle():
    from pycocotools import mask as mask_utils

    h, w = 12, 10
    mask = np.zeros((h, w), np.uint8)
    mask[2:6, 1:4] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    im = CocoImage("a", "a.jpg", h, w, (_ann(1, 90, rle, 12.0),))
    assert np.array_equal(label_map(im, category_index(CATEGORIES, "f")) == 80, mask.astype(bool))
    wrong = mask_utils.encode(np.asfortranarray(np.zeros((5, 5), np.uint8)))
    im = CocoImage("a", "a.jpg", h, w, (_ann(7, 90, wrong, 0.0),))
    with pytest.raises(InputError, match=r"annotation 7: RLE 'size' \[5, 5\] is not the image's \[height, width\], "
                                         r"\[12, 10\]"):
        label_map(im, category_index(CATEGORIES, "f"))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    result = run("data", "synth", "--out", root, "--preset", "tiny")
    assert result.exit_code == 0, result.output
    return root


def _labels(synth: Path, out: Path, *extra):
    coco = synth / "COCO"
    return run("data", "coco-labels", "--annotations", coco / "annotations" / "instances_val2014.json",
               "--images", coco / "val2014", "--out", out, *extra)


def test_synthetic_coco_labels_match_the_rendered_scenes(synth, tmp_path):
    out = tmp_path / "COCO" / "SegmentationClass" / "val2014"
    result = _labels(synth, out)
    assert result.exit_code == 0, result.output
    voc_ids = (synth / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").read_text().split()
    ids = (out / "ids.txt").read_text().split()
    assert ids == [f"COCO_val2014_{int(i.rsplit('_', 1)[1]):012d}" for i in voc_ids]
    to_voc = np.zeros(256, np.uint8)
    for k, name in enumerate(VOC_CLASSES[1:], start=1):
        to_voc[COCO_CLASSES.index(VOC_TO_COCO.get(name, name))] = k
    for coco_id, voc_id in zip(ids, voc_ids):
        coco = read_label_png(out / f"{coco_id}.png")
        voc = read_label_png(synth / "VOCdevkit/VOC2012/SegmentationClass" / f"{voc_id}.png")
        scored = voc != 255  # the renderer's map, void band aside; polygons differ only at borders
        assert coco.shape == voc.shape and coco.max() < 81
        assert (to_voc[coco][scored] == voc[scored]).mean() > 0.97
    manifest = json.loads((out / "coco_labels.json").read_text())
    assert manifest["complete"] and manifest["labels"] == len(ids) == manifest["written"]


def _write_json(path: Path, images, annotations):
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES}))


def _tiny_coco(tmp_path: Path) -> tuple[Path, Path]:
    """Two 8x6 images, one with a person, one without annotations."""
    images = tmp_path / "val2014"
    images.mkdir()
    for k in (1, 2):
        Image.new("RGB", (8, 6)).save(images / f"im{k}.jpg")
    ann = tmp_path / "instances.json"
    _write_json(ann, [{"id": k, "file_name": f"im{k}.jpg", "height": 6, "width": 8} for k in (1, 2)],
                [_ann(1, 1, _square(0, 0, 3, 3), 16.0)])
    return ann, images


def test_images_without_annotations_skipped_or_background(tmp_path):
    ann, images = _tiny_coco(tmp_path)
    skip, background = tmp_path / "skip", tmp_path / "background"
    for out, rule in ((skip, "skip"), (background, "background")):
        result = run("data", "coco-labels", "--annotations", ann, "--images", images, "--out", out, "--empty", rule)
        assert result.exit_code == 0, result.output
    assert (skip / "ids.txt").read_text().split() == ["im1"] and not (skip / "im2.png").exists()
    assert (background / "ids.txt").read_text().split() == ["im1", "im2"]
    assert not read_label_png(background / "im2.png").any()


def test_resume_keeps_what_was_written_and_refuses_other_rules(tmp_path):
    ann, images = _tiny_coco(tmp_path)
    out = tmp_path / "labels"
    args = ("data", "coco-labels", "--annotations", ann, "--images", images, "--out", out, "--empty", "background")
    assert run(*args).exit_code == 0
    before = (out / "im1.png").read_bytes()
    (out / "im2.png").unlink()
    manifest = json.loads((out / "coco_labels.json").read_text())
    (out / "coco_labels.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(InputError, match="did not finish"):
        from c2fbench.data.coco import find_coco_val

        (tmp_path / "root" / "SegmentationClass").mkdir(parents=True)
        (tmp_path / "root" / "SegmentationClass" / "val2014").symlink_to(out)
        find_coco_val(tmp_path / "root")
    result = run(*args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "coco_labels.json").read_text())
    assert (manifest["written"], manifest["resumed"], manifest["complete"]) == (1, 1, True)
    assert (out / "im1.png").read_bytes() == before and (out / "im2.png").is_file()
    assert_refused(run(*args[:-1], "skip"), None, str(out), "other --crowd/--empty")


@pytest.mark.parametrize("case, fragment", [
    ("missing image", "im2.jpg: image not found"),
    ("wrong size", "im1.jpg: image is 8x6 (WxH) but its annotations give 9x6"),
    ("not json", "instances.json: not valid JSON"),
    ("unknown image", "image_id 7 is not in 'images'"),
    ("bad category", "category_id 12 is not a COCO category"),
    ("bad segmentation", "polygon 0: 3 coordinates (expected"),
    ("path in file name", "is not a plain image file name"),
    ("foreign out", "which is not a label map"),
])
def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path, case, fragment):
    ann, images = _tiny_coco(tmp_path)
    data = json.loads(ann.read_text())
    out = tmp_path / "labels"
    if case == "missing image":
        data["annotations"].append({**_ann(2, 1, _square(0, 0, 2, 2), 9.0), "image_id": 2})
        (images / "im2.jpg").unlink()
    elif case == "wrong size":
        data["images"][0]["width"] = 9
    elif case == "unknown image":
        data["annotations"][0]["image_id"] = 7
    elif case == "bad category":
        data["annotations"][0]["category_id"] = 12
    elif case == "bad segmentation":
        data["annotations"][0]["segmentation"] = [[1, 2, 3]]
    elif case == "path in file name":
        data["images"][0]["file_name"] = "../im1.jpg"
    elif case == "foreign out":
        out.mkdir()
        (out / "coco_labels.json").write_text(json.dumps({}))
        (out / "notes.txt").write_text("mine")
    ann.write_text("{" if case == "not json" else json.dumps(data))
    result = run("data", "coco-labels", "--annotations", ann, "--images", images, "--out", out)
    if case == "foreign out":
        assert result.exit_code == 2 and (out / "notes.txt").read_text() == "mine"
        out = None
    assert_refused(result, out, fragment)


@pytest.fixture(scope="module")
def coco_root(synth, tmp_path_factory):
    root = tmp_path_factory.mktemp("coco")
    assert _labels(synth, root / "SegmentationClass" / "val2014").exit_code == 0
    (root / "val2014").symlink_to(synth / "COCO" / "val2014")
    return root


def test_eval_coco_val_scores_like_sklearn(coco_root, tmp_path):
    labels = coco_root / "SegmentationClass" / "val2014"
    ids = (labels / "ids.txt").read_text().split()
    rng = np.random.default_rng(0)
    preds, truths = tmp_path / "pred", []
    for i in ids:
        gt = read_label_png(labels / f"{i}.png")
        pred = gt.copy()
        noise = rng.random(gt.shape) < 0.2
        pred[noise] = rng.integers(0, 81, int(noise.sum()))
        write_label_png(preds / f"{i}.png", pred)
        truths.append((gt, pred))
    out = tmp_path / "eval"
    result = run("eval", "coco-val", "--data-root", coco_root, "--predictions", preds, "--out", out,
                 "--bootstrap", "50", "--workers", "2")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    gt = np.concatenate([t.ravel() for t, _ in truths])
    pr = np.concatenate([p.ravel() for _, p in truths])
    keep = gt != 255
    cm = confusion_matrix(gt[keep], pr[keep], labels=range(81))
    assert metrics["confusion_matrix"] == cm.tolist()
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    assert metrics["mIoU"] == pytest.approx(100 * np.mean(np.diag(cm)[union > 0] / union[union > 0]))
    assert metrics["num_classes"] == 81 and metrics["classes"] == list(COCO_CLASSES)
    # the interval from the dense per-image matrices (the older code path) is the same
    from c2fbench.metrics.bootstrap import bootstrap_miou

    per_image = np.stack([confusion_matrix(t[t != 255], p[t != 255], labels=range(81)) for t, p in truths])
    assert metrics["mIoU_ci95"] == list(bootstrap_miou(per_image, n=50))
    perfect = run("eval", "coco-val", "--data-root", coco_root, "--predictions", labels, "--workers", "1")
    assert perfect.exit_code == 0 and "mIoU 100.00" in perfect.output


def test_eval_coco_val_refusals(coco_root, tmp_path):
    assert_refused(run("eval", "coco-val", "--data-root", tmp_path, "--predictions", tmp_path),
                   None, "no COCO val labels found")
    empty = tmp_path / "pred"
    empty.mkdir()
    assert_refused(run("eval", "coco-val", "--data-root", coco_root, "--predictions", empty),
                   None, "predictions missing")


def test_eval_coco_val_with_a_model_equals_its_predictions_folder(coco_root, tmp_path):
    """An 81-class model scored directly, and through `c2fbench predict` then --predictions:
    the same matrix (two code paths). A VOC model is refused by class names."""
    from tests.deploy.deploy_helpers import write_checkpoint

    ckpt = tmp_path / "coco.pt"
    write_checkpoint(ckpt, "deeplab_v2_mobilenet_small", 81, classes=list(COCO_CLASSES))
    direct, via = tmp_path / "direct", tmp_path / "via"
    result = run("eval", "coco-val", "--data-root", coco_root, "--model", ckpt, "--out", direct)
    assert result.exit_code == 0, result.output
    preds = tmp_path / "pred"
    assert run("predict", "--model", ckpt, "--images", coco_root / "val2014", "--out", preds).exit_code == 0
    assert run("eval", "coco-val", "--data-root", coco_root, "--predictions", preds, "--out", via).exit_code == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (direct, via))
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["mIoU"] == b["mIoU"]
    voc = tmp_path / "voc.pt"
    write_checkpoint(voc, "deeplab_v2_mobilenet_small", 21)
    assert_refused(run("eval", "coco-val", "--data-root", coco_root, "--model", voc), None, "voc.pt", "coco-val")
