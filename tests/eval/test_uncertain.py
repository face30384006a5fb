"""``eval --uncertain``: pseudo-masks holding 255 scored by leaving those pixels out (with
the coverage) or as background, against a 4x4 case worked by hand and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from conftest import random_label_map, save_palette_png
from tests.cli_helpers import assert_refused, run

# One 4x4 image, worked by hand. 14 of 16 ground-truth pixels are not void; the prediction
# is uncertain (255) on 3 of them, (0, 1), (1, 2) and (3, 0), and on one void pixel, (2, 2).
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 255, 255],
               [2, 2, 2, 2]], np.uint8)
PRED = np.array([[0, 255, 1, 1],
                 [0, 0, 255, 1],
                 [2, 1, 255, 0],
                 [255, 2, 2, 2]], np.uint8)
# ignore: the 3 uncertain pixels leave; (2, 3) is void. Rows = ground truth 0, 1, 2.
IGNORE = [[3, 0, 0], [0, 3, 0], [0, 1, 4]]  # IoU 3/3, 3/4, 4/5
IGNORE_MIOU = 100 * (1 + 3 / 4 + 4 / 5) / 3
# background: (0, 1) -> 0 (right), (1, 2) -> 0 (a 1 missed), (3, 0) -> 0 (a 2 missed).
BACKGROUND = [[4, 0, 0], [1, 3, 0], [1, 1, 4]]  # IoU 4/6, 3/5, 4/6
BACKGROUND_MIOU = 100 * (4 / 6 + 3 / 5 + 4 / 6) / 3


def voc_folder(root, labels: dict, preds: dict | None = None):
    voc = root / "VOCdevkit" / "VOC2012"
    for image_id, label in labels.items():
        save_palette_png(voc / "SegmentationClass" / f"{image_id}.png", label)
        if preds is not None:
            save_palette_png(root / "pred" / f"{image_id}.png", preds[image_id])
    split = voc / "ImageSets" / "Segmentation"
    split.mkdir(parents=True, exist_ok=True)
    (split / "val.txt").write_text("".join(f"{i}\n" for i in labels))
    return root


def scored(tmp_path, *options, name="res"):
    result = run("eval", "voc-val", "--data-root", tmp_path, "--predictions", tmp_path / "pred",
                 "--out", tmp_path / name, *options)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / name / "metrics.json").read_text()), " ".join(result.output.split())


@pytest.mark.parametrize("rule, matrix, miou", [("ignore", IGNORE, IGNORE_MIOU),
                                                ("background", BACKGROUND, BACKGROUND_MIOU)])
def test_the_4x4_case_by_hand(tmp_path, rule, matrix, miou):
    voc_folder(tmp_path, {"2007_000001": GT}, {"2007_000001": PRED})
    metrics, output = scored(tmp_path, "--uncertain", rule)
    got = np.array(metrics["confusion_matrix"])
    np.testing.assert_array_equal(got[:3, :3], matrix)
    assert got.sum() == np.sum(matrix)
    assert metrics["mIoU"] == pytest.approx(miou)
    assert metrics["uncertain"] == rule and metrics["uncertain_pixels"] == 3
    assert metrics["coverage"] == pytest.approx(100 * 11 / 14)  # the pixels the mask commits to
    assert "coverage 78.57%" in output and "--uncertain " + rule in output


def test_without_the_flag_255_is_refused_naming_it(tmp_path):
    voc_folder(tmp_path, {"2007_000001": GT}, {"2007_000001": PRED})
    r = run("eval", "voc-val", "--data-root", tmp_path, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "2007_000001", "value 255", "--uncertain ignore", "--uncertain background")


def test_no_uncertain_pixel_means_full_coverage_and_the_plain_score(tmp_path):
    pred = np.where(PRED == 255, 0, PRED).astype(np.uint8)
    voc_folder(tmp_path, {"2007_000001": GT}, {"2007_000001": pred})
    plain, _ = scored(tmp_path, name="plain")
    ignored, _ = scored(tmp_path, "--uncertain", "ignore", name="ignored")
    assert ignored["coverage"] == 100.0 and ignored["uncertain_pixels"] == 0
    assert ignored["confusion_matrix"] == plain["confusion_matrix"] and ignored["mIoU"] == plain["mIoU"]
    assert "coverage" not in plain and "uncertain" not in plain


@pytest.mark.parametrize("workers", [1, 2])
def test_many_images_against_sklearn(tmp_path, workers):
    """30 images (two chunks, so two worker processes with --workers 2), drawn fresh."""
    rng = np.random.default_rng()
    labels, preds = {}, {}
    for k in range(30):
        h, w = int(rng.integers(8, 24)), int(rng.integers(8, 24))
        labels[f"im{k:02d}"] = random_label_map(rng, h, w)
        pred = rng.integers(0, 21, (h, w)).astype(np.uint8)
        pred[rng.random((h, w)) < 0.3] = 255
        preds[f"im{k:02d}"] = pred
    voc_folder(tmp_path, labels, preds)
    gt = np.concatenate([labels[i].ravel() for i in labels])
    pred = np.concatenate([preds[i].ravel() for i in labels])
    valid, unsure = gt != 255, pred == 255
    for rule in ("ignore", "background"):
        metrics, _ = scored(tmp_path, "--uncertain", rule, "--workers", workers, name=rule)
        keep = valid & ~unsure if rule == "ignore" else valid
        expected = confusion_matrix(gt[keep], np.where(unsure, 0, pred)[keep], labels=list(range(21)))
        np.testing.assert_array_equal(np.array(metrics["confusion_matrix"]), expected)
        assert metrics["uncertain_pixels"] == int((valid & unsure).sum())
        assert metrics["coverage"] == pytest.approx(100 * (valid & ~unsure).sum() / valid.sum())


def test_uncertain_is_refused_where_it_means_nothing(tmp_path, mit_tree):
    data_root, _ = mit_tree
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path, "--uncertain", "ignore")
    assert_refused(r, None, "--uncertain", "semantic benchmarks")


def test_every_pixel_uncertain_is_refused(tmp_path):
    voc_folder(tmp_path, {"2007_000001": GT}, {"2007_000001": np.full_like(GT, 255)})
    r = run("eval", "voc-val", "--data-root", tmp_path, "--predictions", tmp_path / "pred", "--out", tmp_path / "o",
            "--uncertain", "ignore")
    assert r.exit_code == 2, r.output  # found once scored: after the progress line, so not assert_refused
    error = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "uncertain (255)" in error[0] and "coverage 0" in error[0], r.output
    assert not (tmp_path / "o").exists()


def test_the_report_names_the_coverage_beside_the_row(tmp_path):
    voc_folder(tmp_path, {"2007_000001": GT}, {"2007_000001": PRED})
    scored(tmp_path, "--uncertain", "ignore")
    result = run("report", tmp_path / "res", "--out", tmp_path / "report", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "(coverage 78.6%)" in (tmp_path / "report" / "report.md").read_text()


def test_the_reports_worst_images_redraw_an_uncertain_result_of_a_split(tmp_path):
    """The thumbnails re-check each image against its stored matrix: with the 255s settled as
    eval settled them, and the images of --split rather than the benchmark's own list."""
    from PIL import Image

    from c2fbench.report.build import build_report
    from c2fbench.report.document import Figure
    from c2fbench.report.inputs import load_inputs

    rng = np.random.default_rng()
    labels = {f"im{k}": random_label_map(rng, 16, 16) for k in range(3)}
    preds = {i: np.where(rng.random((16, 16)) < 0.2, 255, labels[i]).astype(np.uint8) for i in labels}
    voc_folder(tmp_path, labels, preds)
    for image_id in labels:
        (tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
            tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{image_id}.jpg")
    (tmp_path / "ids.txt").write_text("im2\nim0\n")
    metrics, _ = scored(tmp_path, "--uncertain", "ignore", "--split", tmp_path / "ids.txt")
    assert metrics["num_images"] == 2
    doc = build_report(load_inputs([f"A={tmp_path / 'res'}"]))
    worst = [s for s in doc.sections if s.title == "Worst images"]
    assert worst and any(isinstance(x, Figure) for x in worst[0].blocks), worst and worst[0].blocks
