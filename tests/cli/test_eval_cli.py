"""``c2fbench eval`` through click's CliRunner: results against scikit-learn, and every bad input."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from conftest import save_palette_png
from cli_helpers import assert_refused, run


def write_predictions(folder, labels, corrupt_rate=0.3, seed=0):
    rng = np.random.default_rng(seed)
    preds = {}
    for image_id, label in labels.items():
        pred = np.where(rng.random(label.shape) < corrupt_rate, rng.integers(0, 21, label.shape), label)
        pred[pred == 255] = 0
        preds[image_id] = pred.astype(np.uint8)
        save_palette_png(folder / f"{image_id}.png", preds[image_id])
    return preds


def sklearn_matrix(labels, preds):
    gt = np.concatenate([labels[i].ravel() for i in labels])
    pred = np.concatenate([preds[i].ravel() for i in labels])
    keep = gt != 255
    return confusion_matrix(gt[keep], pred[keep], labels=list(range(21)))


@pytest.mark.parametrize("workers", [1, 2])
def test_voc_val_scores_and_files(voc_tree, tmp_path, workers):
    data_root, _, labels = voc_tree
    preds = write_predictions(tmp_path / "pred", labels)
    result = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred",
                 "--out", tmp_path / "res", "--workers", workers, "--bootstrap", 50)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    expected = sklearn_matrix(labels, preds)
    np.testing.assert_array_equal(np.array(metrics["confusion_matrix"]), expected)
    tp = np.diag(expected)
    iou = tp / (expected.sum(0) + expected.sum(1) - tp)
    assert metrics["mIoU"] == pytest.approx(100 * np.nanmean(iou))
    assert metrics["num_images"] == 5 and metrics["classes"][0] == "background"
    low, high = metrics["mIoU_ci95"]
    assert low <= metrics["mIoU"] <= high
    npz = np.load(tmp_path / "res" / "per_image.npz")
    assert list(npz["ids"]) == list(labels)
    np.testing.assert_array_equal(npz["confusion"].sum(axis=0), expected)
    assert (tmp_path / "res" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    csv_rows = (tmp_path / "res" / "confusion.csv").read_text().splitlines()
    assert csv_rows[0].startswith("gt\\pred,background,aeroplane") and len(csv_rows) == 22
    assert "mIoU" in result.output


def test_mit_subset_j_and_p_by_hand(mit_tree, tmp_path):
    data_root, masks = mit_tree
    pred_dir = tmp_path / "pred"
    for image_id, mask in masks.items():
        pred = np.zeros_like(mask)
        pred[:, :15] = True  # the left half of every image
        (pred_dir / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pred.astype(np.uint8) * 255).save(pred_dir / f"{image_id}.png")
    result = run("eval", "mit-subset", "--data-root", data_root, "--predictions", pred_dir,
                 "--out", tmp_path / "res")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    left = np.zeros((20, 30), bool)
    left[:, :15] = True
    for cls in ("Airplane", "Car", "Horse"):
        js, ps = [], []
        for k in range(3):
            gt = masks[f"{cls}100/{k:04d}"]
            ps.append((gt == left).mean())
            if gt.any():
                js.append((gt & left).sum() / (gt | left).sum())
        row = metrics["per_class"][cls]
        assert row["J"] == pytest.approx(100 * np.mean(js))
        assert row["P"] == pytest.approx(100 * np.mean(ps))
        assert row["num_images"] == 3 and row["num_images_scored_J"] == 2
    assert metrics["benchmark"] == "mit-subset"
    assert not (tmp_path / "res" / "confusion.png").exists()


# ---- bad input: exit 2, one line naming the file or id, nothing written ----


def test_missing_data_root(tmp_path):
    r = run("eval", "voc-val", "--data-root", tmp_path / "nowhere", "--predictions", tmp_path, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "nowhere", "data root not found")


def test_missing_split_file(voc_tree, tmp_path):
    data_root, voc_root, _ = voc_tree
    (voc_root / "ImageSets/Segmentation/val.txt").unlink()
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "val.txt", "split file not found")


def test_empty_split(voc_tree, tmp_path):
    data_root, voc_root, _ = voc_tree
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("")
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "val.txt", "empty")


def test_missing_predictions_are_counted_and_named(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    for image_id in list(labels)[1:3]:
        (tmp_path / "pred" / f"{image_id}.png").unlink()
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "2 of 5 predictions missing", "2007_000001")


def test_wrong_size_is_refused_unless_resize_nearest(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    preds = write_predictions(tmp_path / "pred", labels, corrupt_rate=0.0)
    image_id = list(labels)[2]
    small = preds[image_id][::2, ::2]
    save_palette_png(tmp_path / "pred" / f"{image_id}.png", small)
    args = ("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert_refused(run(*args), tmp_path / "o", image_id, "--resize-nearest")
    ok = run(*args, "--resize-nearest", "--no-figures")
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "o" / "metrics.json").exists()


def test_value_outside_class_range(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    preds = write_predictions(tmp_path / "pred", labels)
    image_id = list(labels)[3]
    bad = preds[image_id].copy()
    bad[0, 0] = 255
    save_palette_png(tmp_path / "pred" / f"{image_id}.png", bad)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", image_id, "value 255", "0..20")


@pytest.mark.parametrize("kind", ["corrupt", "jpeg", "rgb"])
def test_unreadable_or_colour_prediction(voc_tree, tmp_path, kind):
    data_root, _, labels = voc_tree
    preds = write_predictions(tmp_path / "pred", labels)
    image_id = list(labels)[4]
    path = tmp_path / "pred" / f"{image_id}.png"
    if kind == "corrupt":
        path.write_bytes(path.read_bytes()[:40])
    elif kind == "jpeg":
        Image.fromarray(preds[image_id]).save(path, format="JPEG")
    else:
        Image.fromarray(np.stack([preds[image_id]] * 3, axis=-1)).save(path)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    expected = {"corrupt": "corrupt", "jpeg": "expected a PNG", "rgb": "found mode RGB"}[kind]
    fix = ["Image.fromarray(index_array.astype(np.uint8)).save(path)"] if kind == "rgb" else []
    assert_refused(r, tmp_path / "o", f"{image_id}.png", expected, *fix)  # the fix on the same line (issue 28)


def test_extra_prediction_files_are_ignored_with_a_warning(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    save_palette_png(tmp_path / "pred" / "not_in_split.png", np.zeros((3, 3), np.uint8))
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--no-figures")
    assert r.exit_code == 0, r.output
    assert "ignored 1 PNG files" in r.output


def test_model_and_predictions_are_exclusive(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    r = run("eval", "voc-val", "--data-root", data_root)
    assert_refused(r, None, "exactly one of --predictions")


def test_mit_soft_maps_are_thresholded_when_asked(mit_tree, tmp_path):
    data_root, masks = mit_tree
    pred_dir = tmp_path / "soft"
    ramp = np.tile(np.linspace(0, 255, 30).round().astype(np.uint8), (20, 1))  # soft map rising left to right
    for image_id in masks:
        (pred_dir / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ramp).save(pred_dir / f"{image_id}.png")
    result = run("eval", "mit-subset", "--data-root", data_root, "--predictions", pred_dir, "--threshold", 0.5,
                 "--out", tmp_path / "res")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    fg = ramp >= 127.5
    js = [(masks[f"Car100/{k:04d}"] & fg).sum() / (masks[f"Car100/{k:04d}"] | fg).sum() for k in (1, 2)]
    assert metrics["per_class"]["Car"]["J"] == pytest.approx(100 * np.mean(js))
    assert metrics["source"]["threshold"] == 0.5
    refused = run("eval", "voc-val", "--data-root", data_root, "--predictions", pred_dir, "--threshold", 0.5)
    assert refused.exit_code == 2 and "--threshold applies" in refused.output


@pytest.mark.parametrize("value", ["nan", "NaN", "-nan", "inf", "-0.5", "1.5"])
def test_a_threshold_that_is_not_in_0_1_is_refused_before_scoring(mit_tree, tmp_path, value):
    """NaN compares false with both bounds: click's FloatRange let it through, and every mask
    then scored as background (mean J 0) with exit status 0."""
    data_root = mit_tree[0] if isinstance(mit_tree, tuple) else mit_tree
    result = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "none",
                 "--threshold", value, "--out", tmp_path / "out")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: Invalid value for '--threshold'") and "0<=x<=1" in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_a_runaway_bootstrap_count_is_refused(tmp_path):
    result = run("eval", "voc-val", "--data-root", tmp_path, "--predictions", tmp_path, "--bootstrap", "1000000000000")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "0<=x<=1000000" in lines[0], result.output


@pytest.mark.parametrize("where", ["--data-root", "--predictions", "--out", "compare"])
def test_a_path_too_long_for_the_filesystem_is_one_line(voc_tree, tmp_path, where):
    data_root, _, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    long = str(tmp_path / ("a" * 5000))
    before = sorted(p.name for p in tmp_path.iterdir())
    args = {"--data-root": ["eval", "voc-val", "--data-root", long, "--predictions", tmp_path / "pred"],
            "--predictions": ["eval", "voc-val", "--data-root", data_root, "--predictions", long],
            "--out": ["eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", long],
            "compare": ["compare", long, tmp_path / "pred"]}[where]
    result = run(*args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    assert "too long" in lines[-1] or "not found" in lines[-1], lines[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
