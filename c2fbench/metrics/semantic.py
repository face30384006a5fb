"""Semantic segmentation scores from a confusion matrix (rows = ground truth).

Policy for absent classes (documented because the peers differ, see
reference/eval-anchors.md): a class absent from both ground truth and prediction has
IoU 0/0, reported as null and excluded from the mean (mmsegmentation, chainercv). A class
predicted but absent from the ground truth scores IoU 0 and counts (the devkit, mmseg);
detectron2 would exclude it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SemanticScores:
    """Scores in percent: ``iou`` and ``acc`` are (C,) float64 with NaN where undefined (a
    class in neither ground truth nor prediction; for ``acc``, absent from the ground truth),
    the others floats. From a (..., C, C) stack, every field gains the leading dimensions."""

    iou: np.ndarray
    acc: np.ndarray
    miou: float
    aacc: float
    macc: float
    fwiou: float

    def per_class(self, classes) -> dict[str, float | None]:
        """IoU by class name (``classes``, C names in index order); None where undefined."""
        return {name: _none_if_nan(v) for name, v in zip(classes, self.iou)}

    def to_dict(self, classes) -> dict:
        """The scores as metrics.json writes them (mIoU, aAcc, mAcc, fwIoU, per-class IoU and
        accuracy by name), None for NaN."""
        return {
            "mIoU": _none_if_nan(self.miou),
            "aAcc": _none_if_nan(self.aacc),
            "mAcc": _none_if_nan(self.macc),
            "fwIoU": _none_if_nan(self.fwiou),
            "per_class_iou": self.per_class(classes),
            "per_class_acc": {n: _none_if_nan(v) for n, v in zip(classes, self.acc)},
        }


def semantic_scores(matrix: np.ndarray) -> SemanticScores:
    """IoU, accuracies and frequency-weighted IoU from a (C, C) count matrix.

    A (..., C, C) stack gives arrays of scores, one per matrix (used by the bootstrap).
    """
    m = np.asarray(matrix, dtype=np.float64)
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    gt_count = m.sum(axis=-1)
    total = gt_count.sum(axis=-1)
    iou = class_iou(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(gt_count > 0, tp / gt_count, np.nan)
        # the counts weigh the IoUs before the one division: each product is at most its count
        # and their sum at most the exact total, so rounding cannot lift fwIoU above 100
        # (gt_count / total first summed to 1 + 2e-16 for some matrices: 100.00000000000003)
        fwiou = np.nansum(np.where(gt_count > 0, gt_count * iou, 0.0), axis=-1) / total
        aacc = tp.sum(axis=-1) / total
    return SemanticScores(
        iou=100 * iou,
        acc=100 * acc,
        miou=_scalar(100 * _nanmean(iou)),
        aacc=_scalar(100 * aacc),
        macc=_scalar(100 * _nanmean(acc)),
        fwiou=_scalar(100 * np.where(total > 0, fwiou, np.nan)),
    )


def class_iou(matrices: np.ndarray) -> np.ndarray:
    """(..., C) IoU in [0, 1] of each class of each (C, C) matrix; NaN where the union is empty."""
    m = np.asarray(matrices, dtype=np.float64)
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    union = m.sum(axis=-1) + m.sum(axis=-2) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def miou_of(matrices: np.ndarray, *, reference: np.ndarray | None = None):
    """mIoU in percent of each (C, C) matrix in a (..., C, C) stack.

    Without ``reference`` each matrix averages its own classes (those with a non-empty
    union): for the one dataset matrix, the headline mIoU.

    With ``reference``, the full data's (C, C) matrix, every matrix averages exactly the
    reference's classes, and a reference class whose union is empty in a matrix counts
    with its reference IoU. The bootstrap uses this to keep one statistic over all
    resamples (the rule and why: :mod:`c2fbench.metrics.bootstrap`). For the reference
    matrix itself, or any multiple of it, the result is the headline mIoU, bit for bit.
    """
    if reference is None:
        return semantic_scores(matrices).miou
    return _mean_over_reference(class_iou(matrices), class_iou(reference))


def stats_of(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, C) int64 class statistics of a (..., C, C) stack: per class, true positives
    (the diagonal), ground-truth pixels (row sums) and predicted pixels (column sums). IoU
    needs nothing else: ``tp / (gt + pred - tp)``."""
    m = np.asarray(matrices, dtype=np.int64)
    return np.stack([np.diagonal(m, axis1=-2, axis2=-1), m.sum(axis=-1), m.sum(axis=-2)], axis=-2)


def stats_iou(stats: np.ndarray) -> np.ndarray:
    """(..., C) IoU in [0, 1] from (..., 3, C) class statistics; NaN where the union is empty.
    The same float arithmetic as :func:`class_iou`, so the two agree bit for bit."""
    s = np.asarray(stats, dtype=np.float64)
    tp = s[..., 0, :]
    union = s[..., 1, :] + s[..., 2, :] - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def miou_of_stats(stats: np.ndarray, *, reference: np.ndarray):
    """:func:`miou_of` with a reference, from (..., 3, C) class statistics (:func:`stats_of`)."""
    return _mean_over_reference(stats_iou(stats), stats_iou(reference))


def _mean_over_reference(iou: np.ndarray, ref: np.ndarray):
    keep = ~np.isnan(ref)
    # Same arithmetic as semantic_scores (zeros for excluded classes, sum, divide), so the
    # full-data resample reproduces the point estimate exactly.
    filled = np.where(keep, np.where(np.isnan(iou), ref, iou), 0.0)
    n = int(keep.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalar(100 * (filled.sum(axis=-1) / n if n else np.full(filled.shape[:-1], np.nan)))


def _nanmean(a: np.ndarray):
    valid = ~np.isnan(a)
    n = valid.sum(axis=-1)
    s = np.where(valid, a, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _scalar(a):
    """A Python float for a single matrix, the array for a stack."""
    return float(a) if np.ndim(a) == 0 else a


def _none_if_nan(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v
