"""Per-image diagnostics: each image's own score, and the images ranked worst first.

Everything is computed from the per-image results an eval keeps (its per-image confusion
matrices, dense or as nonzero cells, or J and P; or ``per_image.npz`` read back), so
``eval --worst`` and the report rank alike.

**Semantic benchmarks.** An image's score is its own mean IoU, in percent: IoU per class
from the image's confusion matrix (void already excluded), averaged over the classes whose
union (ground truth or prediction) is nonzero in that image. It is a diagnostic, not the
benchmark's mIoU, which is computed from one matrix over the split. Ties are broken by the
image's pixel accuracy, then by id, so the order never depends on the evaluation order.

**Foreground benchmarks (mit-*).** An image's score is its J, in percent; ties by P, then id.

An image with no score (a semantic ground truth that is void everywhere; a foreground
ground truth without an object, whose J is undefined) is ranked after every scored image,
among those by pixel accuracy (P), then id: ``--worst K`` reaches it only when K exceeds the
number of scored images, and ``--show-dir`` alone (every image) shows it last, score "n/a".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from c2fbench.eval.csvtext import csv_text

MAX_CONFUSED = 3  # confused class pairs named per image


@dataclass(frozen=True)
class RankedImage:
    """One image of the ranking. ``score`` is mIoU (semantic) or J (foreground) in percent,
    NaN when undefined; ``accuracy`` is pixel accuracy (P) in percent. ``missed``: classes in
    the ground truth that the prediction never holds; ``extra``: predicted classes absent from
    the ground truth; ``confused``: the largest (ground truth, predicted, % of the image's
    scored pixels) off-diagonal pairs. All three are empty for a foreground benchmark."""

    rank: int
    index: int  # position in the per-image arrays (the benchmark's sample order)
    id: str
    score: float
    accuracy: float
    missed: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    confused: tuple[tuple[str, str, float], ...] = ()

    def differences(self) -> str:
        """The classes that differ, as one line ("" when none): missed, extra, then confused
        pairs in whole percent; a pair that rounds to 0% is left out, as the line has no room
        for what it could not show (worst.csv keeps it, to two decimals)."""
        parts = []
        if self.missed:
            parts.append("missed " + ", ".join(self.missed))
        if self.extra:
            parts.append("extra " + ", ".join(self.extra))
        shown = [f"{g}→{p} {share:.0f}%" for g, p, share in self.confused if f"{share:.0f}" != "0"]
        if shown:
            parts.append("confused " + ", ".join(shown))
        return "; ".join(parts)


def semantic_scores(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's own mean IoU and pixel accuracy, in percent.

    Args:
        confusion: (N, C, C) per-image confusion matrices, rows ground truth.

    Returns:
        two (N,) float64 arrays; NaN for an image without any scored pixel.

    >>> m = np.array([[[3, 1], [0, 0]]])  # 3 background pixels right, 1 predicted as class 1
    >>> [round(float(v), 2) for v in semantic_scores(m)[0]]
    [37.5]
    """
    m = np.asarray(confusion)
    return _scores(np.diagonal(m, axis1=1, axis2=2), m.sum(axis=2), m.sum(axis=1))


def _scores(tp: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean IoU and pixel accuracy (percent, NaN when undefined) from (N, C) true positives,
    ground-truth and predicted pixels per image and class."""
    tp, gt, pred = (np.asarray(a, dtype=np.float64) for a in (tp, gt, pred))
    union = gt + pred - tp
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    counted, total = present.sum(axis=1), gt.sum(axis=1)
    miou = np.where(counted > 0, 100 * iou.sum(axis=1) / np.maximum(counted, 1), np.nan)
    accuracy = np.where(total > 0, 100 * tp.sum(axis=1) / np.maximum(total, 1), np.nan)
    return miou, accuracy


def rank(ids, scores: np.ndarray, accuracy: np.ndarray) -> list[int]:
    """Indices of the images, worst first: by score, then accuracy, then id; NaN scores last."""
    ids = [str(i) for i in ids]

    def key(i: int):
        s, a = float(scores[i]), float(accuracy[i])
        return (math.isnan(s), 0.0 if math.isnan(s) else s, math.isnan(a), 0.0 if math.isnan(a) else a, ids[i])

    return sorted(range(len(ids)), key=key)


def worst_semantic(ids, confusion: np.ndarray, classes, k: int | None = None) -> list[RankedImage]:
    """The ``k`` worst images (all when None) of a semantic result, with the classes that differ.

    Args:
        ids: N image ids; confusion: (N, C, C) per-image matrices; classes: C names.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 3 or confusion.shape[1:] != (len(classes), len(classes)) or len(confusion) != len(ids):
        raise ValueError(f"expected ({len(ids)}, {len(classes)}, {len(classes)}) confusion matrices, "
                         f"found {confusion.shape}")
    rows, gt, pred = np.nonzero(confusion)
    return worst_semantic_cells(ids, rows, gt, pred, confusion[rows, gt, pred], classes, k)


def worst_semantic_cells(ids, image: np.ndarray, gt: np.ndarray, pred: np.ndarray, count: np.ndarray, classes,
                         k: int | None = None) -> list[RankedImage]:
    """:func:`worst_semantic` from the matrices' nonzero cells, the way a large split (COCO
    val: 2.1 GB dense) keeps them: (M,) arrays of image index, ground-truth class, predicted
    class and pixel count; a cell listed twice counts twice."""
    from c2fbench.metrics.confusion import cell_stats

    n, c = len(ids), len(classes)
    image, gt, pred, count = (np.asarray(a, dtype=np.int64).ravel() for a in (image, gt, pred, count))
    hit = gt == pred
    tp, gt_px, pred_px = cell_stats(image, gt, pred, count, n, c).transpose(1, 0, 2)
    scores, accuracy = _scores(tp, gt_px, pred_px)
    # each image's off-diagonal cells, merged, largest first, found by binary search
    keys, merged = np.unique((image * c + gt)[~hit] * c + pred[~hit], return_inverse=True)
    sums = np.bincount(merged, weights=count[~hit], minlength=keys.size)
    order = np.lexsort((-sums, keys // (c * c)))
    keys, sums = keys[order], sums[order]
    owner = keys // (c * c)
    ranked = []
    for r, i in enumerate(rank(ids, scores, accuracy)[:k], 1):
        lo, hi = np.searchsorted(owner, [i, i + 1])
        total = max(int(gt_px[i].sum()), 1)
        confused = tuple((classes[int(key // c % c)], classes[int(key % c)], 100 * float(v) / total)
                         for key, v in zip(keys[lo:min(hi, lo + MAX_CONFUSED)], sums[lo:hi]))
        ranked.append(RankedImage(r, i, str(ids[i]), float(scores[i]), float(accuracy[i]),
                                  missed=tuple(classes[j] for j in np.flatnonzero((gt_px[i] > 0) & (pred_px[i] == 0))),
                                  extra=tuple(classes[j] for j in np.flatnonzero((pred_px[i] > 0) & (gt_px[i] == 0))),
                                  confused=confused))
    return ranked


def worst_foreground(ids, j: np.ndarray, p: np.ndarray, k: int | None = None) -> list[RankedImage]:
    """The ``k`` worst images (all when None) of a foreground result by J (percent), then P.

    Args:
        ids: N image ids; j, p: (N,) J (NaN without an object) and P, in [0, 1].
    """
    scores, accuracy = 100 * np.asarray(j, dtype=np.float64), 100 * np.asarray(p, dtype=np.float64)
    return [RankedImage(r, i, str(ids[i]), float(scores[i]), float(accuracy[i]))
            for r, i in enumerate(rank(ids, scores, accuracy)[:k], 1)]


def worst_of_result(result, k: int | None = None) -> list[RankedImage]:
    """The ranking of an :class:`~c2fbench.eval.evaluator.EvalResult`."""
    bench = result.benchmark
    ids = [s.id for s in bench.samples]
    if bench.kind == "semantic":
        cells = getattr(getattr(result, "metric", None), "cells", None)
        if cells is not None:  # a metric that keeps each image's nonzero cells: no dense (N, C, C) copy
            image, cell, count = cells()
            c = len(bench.classes)
            return worst_semantic_cells(ids, image, cell // c, cell % c, count, bench.classes, k)
        return worst_semantic(ids, result.per_image, bench.classes, k)
    return worst_foreground(ids, result.per_image[:, 0], result.per_image[:, 1], k)


def worst_of_arrays(arrays: dict, metrics: dict, k: int | None = None) -> list[RankedImage]:
    """The ranking from ``per_image.npz``'s arrays (:func:`c2fbench.eval.results.read_per_image`):
    dense ``confusion``, nonzero cells (``cell_image``, ``cell_gt``, ``cell_pred``,
    ``cell_count``), or a foreground result's ``J`` and ``P``."""
    if "confusion" in arrays:
        return worst_semantic(arrays["ids"].tolist(), arrays["confusion"], list(metrics["classes"]), k)
    if "cell_image" in arrays:
        return worst_semantic_cells(arrays["ids"].tolist(), arrays["cell_image"], arrays["cell_gt"],
                                    arrays["cell_pred"], arrays["cell_count"], list(metrics["classes"]), k)
    return worst_foreground(arrays["ids"].tolist(), arrays["J"], arrays["P"], k)


def score_name(kind: str) -> tuple[str, str]:
    """The names of a ranking's two numbers: ("mIoU", "pixel acc") or ("J", "P")."""
    return ("mIoU", "pixel acc") if kind == "semantic" else ("J", "P")


def fmt_score(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def worst_csv(ranked: list[RankedImage], kind: str) -> str:
    """``worst.csv``: rank, id, score, accuracy (empty when undefined), and for a semantic
    benchmark the missed, extra and confused classes (``;``-separated). Ids and class names
    are text cells no spreadsheet runs as a formula (:mod:`c2fbench.eval.csvtext`)."""
    score, accuracy = score_name(kind)
    header = ["rank", "id", score, accuracy]
    if kind == "semantic":
        header += ["missed", "extra", "confused"]
    rows = [header]
    for item in ranked:
        row = [item.rank, item.id, *(None if math.isnan(v) else v for v in (item.score, item.accuracy))]
        if kind == "semantic":
            row += [";".join(item.missed), ";".join(item.extra),
                    ";".join(f"{g}>{p}:{share:.2f}" for g, p, share in item.confused)]
        rows.append(row)
    return csv_text(rows, number=_four_decimals, lineterminator="\n")


def _four_decimals(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
