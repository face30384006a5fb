"""Semantic scores against hand-computed cases and scikit-learn's per-class scores."""

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, jaccard_score

from c2fbench.metrics import ConfusionMatrix, semantic_scores


def test_hand_computed_three_class_case_with_an_absent_class():
    # gt row:   0 0 0 1 1 1 ; pred row: 0 0 1 1 1 0 ; class 2 appears in neither.
    gt = np.array([[0, 0, 0, 1, 1, 1]], np.uint8)
    pred = np.array([[0, 0, 1, 1, 1, 0]], np.uint8)
    cm = ConfusionMatrix(num_classes=3)
    cm.update(gt, pred)
    s = cm.compute()
    # class 0: tp 2, gt 3, pred 3 -> 2/4 ; class 1 the same.
    assert s.iou[:2] == pytest.approx([50.0, 50.0])
    assert math.isnan(s.iou[2])
    assert s.miou == pytest.approx(50.0)  # the absent class is excluded, not counted as 0
    assert s.aacc == pytest.approx(100 * 4 / 6)
    assert s.macc == pytest.approx(100 * 2 / 3)
    assert s.fwiou == pytest.approx(50.0)
    assert s.per_class(["a", "b", "c"]) == {"a": pytest.approx(50.0), "b": pytest.approx(50.0), "c": None}


def test_class_predicted_but_absent_from_ground_truth_scores_zero_and_counts():
    gt = np.array([[0, 0, 0, 0]], np.uint8)
    pred = np.array([[0, 0, 0, 2]], np.uint8)
    s = semantic_scores(ConfusionMatrix(num_classes=3).update(gt, pred))
    assert s.iou[0] == pytest.approx(75.0)
    assert s.iou[2] == 0.0
    assert math.isnan(s.iou[1])
    assert s.miou == pytest.approx(37.5)


def test_fwiou_weights_by_ground_truth_frequency():
    m = np.array([[6, 2], [1, 1]])
    iou = np.array([6 / 9, 1 / 4])
    freq = np.array([8 / 10, 2 / 10])
    assert semantic_scores(m).fwiou == pytest.approx(100 * (freq * iou).sum())


def test_a_perfect_prediction_scores_exactly_100_whatever_the_class_counts():
    """Found by an unseeded test: the frequencies of these 19 classes (a perfect prediction)
    summed to 1 + 2e-16, fwIoU was 100.00000000000003, and the report refused eval's file."""
    counts = [277, 128, 594, 74, 130, 71, 211, 868, 672, 634, 985, 497, 40, 164, 261, 674, 357, 318, 113]
    assert np.sum(np.array(counts) / sum(counts)) > 1.0  # numpy's pairwise sum of the frequencies
    s = semantic_scores(np.diag(counts))
    assert (s.miou, s.aacc, s.macc, s.fwiou) == (100.0, 100.0, 100.0, 100.0)
    rng = np.random.default_rng(0)
    for _ in range(2000):  # nor does any matrix score above 100
        m = np.diag(rng.integers(1, 1000, size=rng.integers(2, 22)))
        m[0, -1] = rng.integers(0, 3)
        assert semantic_scores(m).fwiou <= 100.0


def test_scores_match_sklearn_on_random_dataset():
    rng = np.random.default_rng()
    c = 6
    cm = ConfusionMatrix(num_classes=c)
    gts, preds = [], []
    for _ in range(5):
        gt = rng.integers(0, c - 1, size=(20, 30)).astype(np.uint8)  # class c-1 never in gt
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, c - 2, size=gt.shape)).astype(np.uint8)
        pred[pred == 255] = 0
        cm.update(gt, pred)
        keep = gt != 255
        gts.append(gt[keep])
        preds.append(pred[keep])
    y, p = np.concatenate(gts), np.concatenate(preds)
    s = cm.compute()
    expected = jaccard_score(y, p, labels=list(range(c)), average=None, zero_division=0).astype(float)
    absent = ~np.isin(np.arange(c), np.concatenate([y, p]))  # 0/0 classes: null, excluded from the mean
    expected[absent] = np.nan
    np.testing.assert_allclose(s.iou, 100 * expected)
    assert s.miou == pytest.approx(100 * np.nanmean(expected))
    assert s.aacc == pytest.approx(100 * accuracy_score(y, p))
    assert s.macc == pytest.approx(100 * balanced_accuracy_score(y, p))


def test_stack_of_matrices_gives_one_score_per_matrix():
    rng = np.random.default_rng()
    stack = rng.integers(0, 50, size=(4, 3, 3))
    mious = semantic_scores(stack).miou
    assert mious.shape == (4,)
    for k in range(4):
        assert mious[k] == pytest.approx(semantic_scores(stack[k]).miou)
