"""``eval --cams``: CAM seeds in IRN's, SEAM's and plain formats, the threshold sweep, and the
restricted unpickler. The oracle is IRN's eval_cam loop written out here (one full pass per
threshold: pad with t, argmax, confusion matrix with scikit-learn), never c2fbench's code."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from tests.cli_helpers import assert_refused, run
from tests.conftest import save_palette_png

THRESHOLDS = [round(0.05 * k, 2) for k in range(1, 20)]  # 0.05 .. 0.95, what 0.05:0.95:0.05 means


def _voc_train(tmp_path, rng, n=6):
    """A VOC tree whose train split holds ``n`` images with 1-3 classes each and void borders."""
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    labels = {}
    for k in range(n):
        image_id = f"2008_{k:06d}"
        h, w = 30 + 2 * k, 41 - k
        label = np.zeros((h, w), np.uint8)
        for cls in rng.choice(np.arange(1, 21), size=1 + k % 3, replace=False):
            y, x = rng.integers(0, h - 10), rng.integers(0, w - 10)
            label[y:y + rng.integers(6, 14), x:x + rng.integers(6, 16)] = cls
        label[rng.random((h, w)) < 0.05] = 255
        labels[image_id] = label
        save_palette_png(voc / "SegmentationClass" / f"{image_id}.png", label)
        (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
    split = voc / "ImageSets" / "Segmentation"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("".join(f"{i}\n" for i in labels))
    (split / "val.txt").write_text("".join(f"{i}\n" for i in labels))
    return tmp_path, labels


def _cam_maps(rng, label, classes):
    """(K, H, W) float32 maps: high on each class's pixels, noise elsewhere, values on a 0.05
    grid so that scores equal thresholds and one another (both ties are exercised)."""
    maps = rng.random((len(classes), *label.shape)) * 0.7
    for j, c in enumerate(classes):
        maps[j][label == c + 1] += 0.4
    return (np.round(np.clip(maps, 0, 1) * 20) / 20).astype(np.float32)


def _oracle_label(keys, cams, t):
    """IRN's eval_cam.py: pad background (t) first, argmax, map through the padded keys."""
    padded = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=t)
    keys = np.pad(np.asarray(keys) + 1, (1, 0), mode="constant")
    return keys[np.argmax(padded, axis=0)]


def _oracle_miou(labels, preds):
    gt = np.concatenate([labels[i].ravel() for i in labels])
    pred = np.concatenate([preds[i].ravel() for i in labels])
    keep = gt != 255
    m = confusion_matrix(gt[keep], pred[keep], labels=list(range(21))).astype(np.float64)
    union = m.sum(0) + m.sum(1) - np.diag(m)
    return 100 * np.mean(np.diag(m)[union > 0] / union[union > 0]), m


def _write_cams(cam_dir, labels, rng, fmt):
    """Every image's CAM in ``fmt``; returns {id: (keys, maps)} as the oracle reads them."""
    cam_dir.mkdir(parents=True, exist_ok=True)
    truth = {}
    for image_id, label in labels.items():
        present = sorted({int(v) - 1 for v in np.unique(label) if 0 < v < 255})
        if fmt == "dense":  # every class scored; the image's own classes are taken from its ground truth
            every = _cam_maps(rng, label, list(range(20)))
            np.save(cam_dir / f"{image_id}.npy", every)
            truth[image_id] = (present, every[present])
            continue
        keys = list(reversed(present)) if fmt == "seam" else present  # a dict's order must not matter
        maps = _cam_maps(rng, label, keys)
        if fmt == "irn":
            np.save(cam_dir / f"{image_id}.npy", {"keys": np.array(keys), "high_res": maps})
        else:
            np.save(cam_dir / f"{image_id}.npy", {k: m for k, m in zip(keys, maps)})
        order = np.argsort(keys)
        truth[image_id] = (list(np.array(keys)[order]), maps[order])
    return truth


@pytest.mark.parametrize("fmt", ["irn", "seam", "dense"])
def test_every_threshold_of_the_sweep_matches_irns_loop(tmp_path, fmt):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng)
    truth = _write_cams(tmp_path / "cams", labels, rng, fmt)
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams",
                 "--threshold", "0.05:0.95:0.05", "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    expected = [_oracle_miou(labels, {i: _oracle_label(*truth[i], t) for i in labels})[0] for t in THRESHOLDS]
    assert [s["threshold"] for s in metrics["cam_sweep"]] == THRESHOLDS
    assert [s["mIoU"] for s in metrics["cam_sweep"]] == pytest.approx(expected, abs=1e-6)
    best = THRESHOLDS[int(np.argmax(expected))]  # the first (lowest) of equal maxima
    assert metrics["best_threshold"] == best
    assert metrics["mIoU"] == pytest.approx(max(expected), abs=1e-6)
    _, matrix = _oracle_miou(labels, {i: _oracle_label(*truth[i], best) for i in labels})
    assert metrics["confusion_matrix"] == matrix.astype(int).tolist()
    assert (tmp_path / "out" / "cam_sweep.png").is_file()
    if fmt == "irn":  # the report draws the sweep too
        report = run("report", f"seeds={tmp_path / 'out'}", "--out", tmp_path / "report", "--format", "md")
        assert report.exit_code == 0, report.output
        text = (tmp_path / "report" / "report.md").read_text()
        assert "CAM seeds: the threshold sweep" in text and f"**{best:g}**" in text


def test_precision_and_recall_at_the_best_threshold(tmp_path):
    from sklearn.metrics import precision_score, recall_score

    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng)
    truth = _write_cams(tmp_path / "cams", labels, rng, "irn")
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams", "--threshold", 0.3,
                 "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["best_threshold"] == 0.3 and len(metrics["cam_sweep"]) == 1
    gt = np.concatenate([labels[i].ravel() for i in labels])
    pred = np.concatenate([_oracle_label(*truth[i], 0.3).ravel() for i in labels])
    keep = gt != 255
    classes = metrics["classes"]
    precision = precision_score(gt[keep], pred[keep], labels=range(21), average=None, zero_division=np.nan)
    recall = recall_score(gt[keep], pred[keep], labels=range(21), average=None, zero_division=np.nan)
    for c, name in enumerate(classes):
        for got, want in ((metrics["per_class_precision"][name], precision[c]),
                          (metrics["per_class_recall"][name], recall[c])):
            assert (got is None) if np.isnan(want) else got == pytest.approx(100 * want, abs=1e-9)


def test_bg_power_is_psas_background(tmp_path):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng)
    truth = _write_cams(tmp_path / "cams", labels, rng, "seam")
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams", "--bg-power", 8,
                 "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    preds = {}
    for image_id, (keys, cams) in truth.items():  # PSA: a 21-channel stack, background (1 - max)^alpha first
        full = np.zeros((21, *cams.shape[1:]), np.float32)
        full[np.array(keys, dtype=int) + 1] = cams
        full[0] = (1 - np.max(full[1:], 0)) ** 8
        preds[image_id] = np.argmax(full, 0)
    assert metrics["mIoU"] == pytest.approx(_oracle_miou(labels, preds)[0], abs=1e-6)
    assert "cam_sweep" not in metrics and metrics["source"]["bg_power"] == 8


def test_a_dense_array_with_background_is_its_own_argmax(tmp_path):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=3)
    (tmp_path / "cams").mkdir()
    preds = {}
    for image_id, label in labels.items():
        scores = rng.random((21, *label.shape)).astype(np.float32)
        np.save(tmp_path / "cams" / f"{image_id}.npy", scores)
        preds[image_id] = np.argmax(scores, 0)
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams",
                 "--threshold", "0.1:0.3:0.1", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "own background channel" in result.output
    miou = _oracle_miou(labels, preds)[0]
    assert f"{miou:.2f}" in result.output


def test_irns_strided_cam_is_upsampled_and_said(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=3)
    (tmp_path / "cams").mkdir()
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    preds = {}
    for image_id, label in labels.items():
        keys = torch.tensor(sorted({int(v) - 1 for v in np.unique(label) if 0 < v < 255}))
        h, w = label.shape
        # Multiples of 1/8 plus a per-class 1/4096: bilinear weights at scale 4 are multiples of 1/8, so
        # every upsampled value is exact in float32 and float64, classes never tie, and none equals 0.3.
        levels = torch.randint(0, 9, (len(keys), -(-h // 4), -(-w // 4)), generator=gen) / 8
        strided = levels + torch.arange(len(keys))[:, None, None] / 4096
        np.save(tmp_path / "cams" / f"{image_id}.npy", {"keys": keys, "cam": strided})  # IRN saves torch tensors
        up = torch.nn.functional.interpolate(strided[None], scale_factor=4, mode="bilinear",
                                             align_corners=False)[0, :, :h, :w].numpy()
        preds[image_id] = _oracle_label(keys.numpy(), up, 0.3)
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams", "--threshold", 0.3,
                 "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "upsampled" in result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["mIoU"] == pytest.approx(_oracle_miou(labels, preds)[0], abs=1e-4)


class _Marker:
    """A pickle whose loading would create a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=2)
    _write_cams(tmp_path / "cams", labels, rng, "irn")
    marker = tmp_path / "marker"
    first = next(iter(labels))
    np.save(tmp_path / "cams" / f"{first}.npy", {"keys": np.array([0]), "high_res": _Marker(marker)},
            allow_pickle=True)
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams", "--threshold", 0.2,
                 "--out", tmp_path / "out", "--workers", 1)
    assert_refused(result, tmp_path / "out", f"{first}.npy", "refused")
    assert not marker.exists()


def test_os_system_in_a_pickle_is_refused(tmp_path):
    from c2fbench.errors import InputError
    from c2fbench.eval.cams import read_cam

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    np.save(tmp_path / "x.npy", {3: Evil()}, allow_pickle=True)
    with pytest.raises(InputError, match="refused"):
        read_cam(tmp_path / "x.npy", (4, 5), 20)
    assert not (tmp_path / "ran").exists()


def test_a_declared_shape_is_checked_before_the_data_are_read(tmp_path):
    from c2fbench.errors import InputError
    from c2fbench.eval.cams import read_cam

    path = tmp_path / "big.npy"
    with open(path, "wb") as f:  # a header declaring 20 x 100000 x 100000 floats, and no data
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (20, 100000, 100000)})
    with pytest.raises(InputError, match=r"shape \(20, 100000, 100000\).*expected \(20, 4, 5\)"):
        read_cam(path, (4, 5), 20)
    np.save(path, np.zeros((20, 400, 500), np.float32))  # right shape for another image: too large for this one
    with pytest.raises(InputError, match="bytes, more than"):
        read_cam(path, (4, 5), 20)


@pytest.mark.parametrize("fmt, content, words", [
    ("irn", {"keys": np.array([20]), "high_res": np.zeros((1, 4, 5), np.float32)}, "class 20"),
    ("irn", {"keys": np.array([1, 1]), "high_res": np.zeros((2, 4, 5), np.float32)}, "twice"),
    ("seam", {1: np.zeros((5, 4), np.float32)}, "the image is 5x4"),
    ("seam", {1: np.full((4, 5), np.nan, np.float32)}, "NaN"),
    ("dense", {"other": 1}, "expected IRN's dict"),
])
def test_malformed_cams_are_one_line(tmp_path, fmt, content, words):
    from c2fbench.errors import InputError
    from c2fbench.eval.cams import read_cam

    np.save(tmp_path / "x.npy", content, allow_pickle=True)
    with pytest.raises(InputError, match=words):
        read_cam(tmp_path / "x.npy", (4, 5), 20)


def test_a_forced_format_must_match_the_content(tmp_path):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=2)
    _write_cams(tmp_path / "cams", labels, rng, "seam")
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams", "--threshold", 0.2,
                 "--cam-format", "irn", "--workers", 1)
    assert_refused(result, None, "not --cam-format irn")


@pytest.mark.parametrize("args, words", [
    (["--threshold", "0.05:0.95:0.05"], "applies to --cams"),
    (["--cams", "CAMS", "--threshold", "0.2", "--bg-power", "3"], "not both"),
    (["--cams", "CAMS", "--threshold", "0.9:0.1:0.1"], "START <= STOP"),
    (["--cams", "CAMS"], "need --threshold"),
    (["--cams", "CAMS", "--threshold", "0.2", "--out", "CAMS/out"], "lies inside --cams"),
])
def test_options_are_checked(tmp_path, args, words):
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=2)
    _write_cams(tmp_path / "cams", labels, rng, "irn")
    args = [str(a).replace("CAMS", str(tmp_path / "cams")) for a in args]
    if "--cams" not in args:
        args = ["--predictions", tmp_path / "cams", *args]
    result = run("eval", "voc-train", "--data-root", data_root, *args, "--workers", 1)
    assert result.exit_code == 2 and words in result.output, result.output


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_thresholds_compare_in_the_stored_dtype(tmp_path, dtype):
    """A score equal to a threshold as the file stores it is background: IRN's np.pad
    stores t in the CAM's dtype."""
    rng = np.random.default_rng()
    data_root, labels = _voc_train(tmp_path, rng, n=3)
    (tmp_path / "cams").mkdir()
    truth = {}
    for image_id, label in labels.items():
        keys = sorted({int(v) - 1 for v in np.unique(label) if 0 < v < 255})
        maps = rng.choice(np.array([0.1, 0.2, 0.3, 0.7], dtype=dtype), size=(len(keys), *label.shape))
        np.save(tmp_path / "cams" / f"{image_id}.npy", {"keys": np.array(keys), "high_res": maps})
        truth[image_id] = (keys, maps)
    result = run("eval", "voc-train", "--data-root", data_root, "--cams", tmp_path / "cams",
                 "--threshold", "0.1:0.3:0.1", "--out", tmp_path / "out", "--workers", 1)
    assert result.exit_code == 0, result.output
    sweep = json.loads((tmp_path / "out" / "metrics.json").read_text())["cam_sweep"]
    expected = [_oracle_miou(labels, {i: _oracle_label(*truth[i], t) for i in labels})[0] for t in (0.1, 0.2, 0.3)]
    assert [s["mIoU"] for s in sweep] == pytest.approx(expected, abs=1e-6)
