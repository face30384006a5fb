"""Per-image confusion matrices kept as nonzero cells: the same numbers as dense matrices
(scikit-learn's confusion_matrix is the oracle), a memory that grows with the classes an
image holds rather than C * C, and per_image.npz written by cells for large benchmarks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from c2fbench.metrics.confusion import ConfusionMatrix
from c2fbench.metrics.semantic import stats_of


def _images(rng, n, c, shape=(9, 11)):
    out = []
    for k in range(n):
        classes = rng.choice(c, size=3, replace=False)
        gt = rng.choice(classes, size=shape).astype(np.uint8)
        pred = np.where(rng.random(shape) < 0.3, rng.choice(classes, size=shape), gt).astype(np.uint8)
        gt[0, 0] = 255
        out.append((f"im{k}", gt, pred))
    return out


def test_cells_give_the_dense_matrices_and_class_stats_after_merges():
    c, images = 81, _images(np.random.default_rng(0), 40, 81)
    ids = [i for i, _, _ in images]
    whole = ConfusionMatrix(c, images=ids)
    for part in (images[:15], images[15:], images[3:4]):  # im3 twice: its counts add
        chunk = ConfusionMatrix(c, images=[i for i, _, _ in part])
        for i, gt, pred in part:
            chunk.update(gt, pred, image_id=i)
        whole.merge(chunk)
    expected = np.stack([confusion_matrix(g[g != 255], p[g != 255], labels=range(c)) for _, g, p in images])
    expected[3] *= 2
    np.testing.assert_array_equal(whole.per_image, expected)
    np.testing.assert_array_equal(whole.matrix, expected.sum(0))
    stats = whole.class_stats()
    np.testing.assert_array_equal(stats[:, 0], np.diagonal(expected, axis1=1, axis2=2))
    np.testing.assert_array_equal(stats[:, 1], expected.sum(2))
    np.testing.assert_array_equal(stats[:, 2], expected.sum(1))
    np.testing.assert_array_equal(stats, stats_of(expected))


def test_kept_cells_grow_with_the_classes_present_not_with_c_squared():
    images = _images(np.random.default_rng(1), 2000, 81, shape=(4, 4))
    cm = ConfusionMatrix(81, images=[i for i, _, _ in images])
    for i, gt, pred in images:
        cm.update(gt, pred, image_id=i)
    rows, cells, counts = cm.cells()
    assert rows.size <= 2000 * 9  # at most 3 x 3 cells an image; dense would be 2000 * 6561
    assert sum(a.nbytes for a in (rows, cells, counts)) < 2000 * 81 * 81 * 8 / 100


def test_reduce_keeps_cells(monkeypatch):
    images = _images(np.random.default_rng(2), 5, 6)
    cm = ConfusionMatrix(6, images=[i for i, _, _ in images])
    for i, gt, pred in images:
        cm.update(gt, pred, image_id=i)
    dense = cm.per_image
    cm.reduce(lambda a: 2 * a)  # two identical ranks
    np.testing.assert_array_equal(cm.per_image, 2 * dense)
    np.testing.assert_array_equal(cm.matrix, 2 * dense.sum(0))


def test_per_image_npz_by_cells_reads_back_and_compares(tmp_path, monkeypatch, voc_tree):
    from c2fbench.eval import results
    from c2fbench.eval.results import read_per_image, semantic_stats
    from c2fbench.report.compare import compare_results
    from tests.cli_helpers import run

    from c2fbench.data.png import write_label_png

    root, _, labels = voc_tree
    preds = tmp_path / "pred"
    rng = np.random.default_rng(5)
    for image_id, label in labels.items():
        pred = np.where(label == 255, 0, label).astype(np.uint8)
        noise = rng.random(pred.shape) < 0.2
        pred[noise] = rng.integers(0, 21, int(noise.sum()))
        write_label_png(preds / f"{image_id}.png", pred)
    dense_out, cells_out = tmp_path / "dense", tmp_path / "cells"
    assert run("eval", "voc-val", "--data-root", root, "--predictions", preds, "--out", dense_out,
               "--workers", "1").exit_code == 0
    monkeypatch.setattr(results, "DENSE_MAX_BYTES", 0)
    assert run("eval", "voc-val", "--data-root", root, "--predictions", preds, "--out", cells_out,
               "--workers", "1").exit_code == 0
    dense_metrics = json.loads((dense_out / "metrics.json").read_text())
    cells_metrics = json.loads((cells_out / "metrics.json").read_text())
    dense, cells = read_per_image(dense_out, dense_metrics), read_per_image(cells_out, cells_metrics)
    assert "confusion" in dense and "cell_count" in cells and "confusion" not in cells
    np.testing.assert_array_equal(semantic_stats(cells, 21), stats_of(dense["confusion"]))
    assert compare_results(dense_out, cells_out, n=50)["difference_ci95"] == [0.0, 0.0]
    assert dense_metrics["confusion_matrix"] == cells_metrics["confusion_matrix"]
    # a cell pointing past the images is refused
    arrays = dict(np.load(cells_out / "per_image.npz"))
    arrays["cell_image"][0] = 10_000
    np.savez_compressed(cells_out / "per_image.npz", **arrays)
    del cells_metrics["files"]
    with pytest.raises(Exception, match="'cell_image' holds values outside"):
        read_per_image(cells_out, cells_metrics)


def test_sparse_class_stats_and_the_bootstrap_equal_the_dense_path():
    from c2fbench.metrics.bootstrap import bootstrap_miou, bootstrap_miou_stats, paired_bootstrap_miou
    from c2fbench.metrics.bootstrap import paired_bootstrap_miou_stats

    images = _images(np.random.default_rng(3), 30, 12)
    a, b = (ConfusionMatrix(12, images=[i for i, _, _ in images]) for _ in range(2))
    for i, gt, pred in images:
        a.update(gt, pred, image_id=i)
        b.update(gt, np.roll(pred, 1, axis=1), image_id=i)
    np.testing.assert_array_equal(a.class_stats(sparse=True).toarray().reshape(30, 3, 12), a.class_stats())
    dense = a.per_image  # the older code path: (N, C, C) matrices
    assert bootstrap_miou_stats(a.class_stats(sparse=True), n=300, seed=4) == bootstrap_miou(dense, n=300, seed=4)
    assert (paired_bootstrap_miou_stats(a.class_stats(sparse=True), b.class_stats(sparse=True), n=200, seed=1)
            == paired_bootstrap_miou(dense, b.per_image, n=200, seed=1))
