"""The bootstrap interval brackets its own point estimate on small splits with rare classes.

Each case is a split of 2 to 8 images whose ground truth holds the background, one
frequent class and one or two of nineteen rare classes; the model is poor on the rare
classes (it misses most of their pixels and invents other rare classes), the situation
that made the pre-fix interval exclude its point estimate. The point estimate comes from
scikit-learn's confusion matrix of the pooled pixels (an oracle independent of c2fbench's
matrix code); the pre-fix rule is re-implemented as an explicit loop, to show the cases
reach the fault.
"""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from c2fbench.metrics.bootstrap import bootstrap_miou, paired_bootstrap_miou

C = 21
CASES = range(120)


def predict(rng, gt):
    """Good on classes 0 and 1, poor on the rare ones (missed pixels go to an invented class)."""
    pred = gt.copy()
    for k in np.unique(gt):
        sel = np.flatnonzero(gt == k)
        miss = rng.random(sel.size) < (rng.uniform(0, 0.3) if k < 2 else rng.uniform(0.8, 1.0))
        pred[sel[miss]] = rng.integers(2, C)
    return pred


def small_split(rng, n_images):
    """(N, C, C) per-image confusion matrices (scikit-learn), and the pooled pixels."""
    per_image, pooled_gt, pooled_pred = [], [], []
    for _ in range(n_images):
        present = np.array([0, 1, *rng.choice(np.arange(2, C), size=rng.integers(1, 3), replace=False)])
        area = rng.integers(5, 120, size=present.size)
        area[0] += 200
        gt = np.repeat(present, area)
        pred = predict(rng, gt)
        per_image.append(confusion_matrix(gt, pred, labels=list(range(C))))
        pooled_gt.append(gt)
        pooled_pred.append(pred)
    return np.stack(per_image), np.concatenate(pooled_gt), np.concatenate(pooled_pred)


def miou_by_hand(m):
    m = np.asarray(m, dtype=float)
    tp = np.diag(m)
    union = m.sum(0) + m.sum(1) - tp
    return 100 * np.mean(tp[union > 0] / union[union > 0])


def sklearn_miou(gt, pred):
    return miou_by_hand(confusion_matrix(gt, pred, labels=list(range(C))))


def old_rule_interval(per_image, n, seed):
    """The pre-fix rule: each resample averages only the classes it happens to contain."""
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n, 128):
        values += [miou_by_hand(per_image[row].sum(0))
                   for row in rng.integers(0, len(per_image), size=(min(128, n - start), len(per_image)))]
    return np.percentile(values, [2.5, 97.5])


def brackets(low, point, high):
    return low <= point + 1e-9 and point - 1e-9 <= high


def test_interval_brackets_the_point_estimate_on_small_splits():
    old_misses = 0
    for case in CASES:
        rng = np.random.default_rng(case)
        per_image, gt, pred = small_split(rng, int(rng.integers(2, 9)))
        point = sklearn_miou(gt, pred)
        low, high = bootstrap_miou(per_image, n=1000, seed=case)
        assert brackets(low, point, high), (case, low, point, high)
        old_low, old_high = old_rule_interval(per_image, 1000, case)
        old_misses += not brackets(old_low, point, old_high)
    assert old_misses > 0  # the cases do reach the fault that the fixed class set removes


def test_paired_interval_brackets_the_difference_and_excludes_zero_consistently():
    for case in CASES:
        rng = np.random.default_rng(10_000 + case)
        a, gt, pred_a = small_split(rng, int(rng.integers(2, 9)))
        b = []  # B: the same ground truth, its own predictions
        for image in a:
            image_gt = np.repeat(np.arange(C), image.sum(1))
            b.append(confusion_matrix(image_gt, predict(rng, image_gt), labels=list(range(C))))
        b = np.stack(b)
        point = sklearn_miou(gt, pred_a) - miou_by_hand(b.sum(0))
        low, high = paired_bootstrap_miou(a, b, n=1000, seed=case)
        assert brackets(low, point, high), (case, low, point, high)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_resamples_follow_the_documented_rule(seed):
    """An explicit loop: a full-data class with an empty union in a resample counts with its
    full-data IoU, and every resample averages the full-data classes."""
    per_image, _, _ = small_split(np.random.default_rng(seed), 6)
    full = per_image.sum(0).astype(float)
    tp = np.diag(full)
    union = full.sum(0) + full.sum(1) - tp
    classes = np.flatnonzero(union > 0)
    draws = np.random.default_rng(seed)
    values, filled = [], 0
    for start in range(0, 300, 128):
        for row in draws.integers(0, 6, size=(min(128, 300 - start), 6)):
            m = per_image[row].sum(0).astype(float)
            t = np.diag(m)
            u = m.sum(0) + m.sum(1) - t
            values.append(100 * np.mean([t[k] / u[k] if u[k] > 0 else tp[k] / union[k] for k in classes]))
            filled += int((u[classes] == 0).any())
    assert filled > 0  # the rule is exercised
    assert bootstrap_miou(per_image, n=300, seed=seed) == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))
