"""The streaming confusion matrix, the one metric object of a semantic benchmark: eval
(merged over worker processes), training-time validation (summed over ranks), and deploy
parity all accumulate into a :class:`ConfusionMatrix`. Its foreground twin, for Object
Discovery's J and P, is :class:`c2fbench.metrics.foreground.ForegroundJP`.

Rows are ground truth, columns are predictions, as in the VOC devkit. Pixels whose ground
truth is ``ignore_index`` (255, VOC's void) are excluded from every count. A prediction
value outside ``[0, num_classes)`` anywhere in the image is an input error, as in the
devkit's VOCevalseg.m, never silently dropped.

Speed (benchmarks/eval_throughput.py): label maps are made of long runs of one value, so
for uint8 maps the matrix is counted per run of constant (gt, pred) pairs rather than per
pixel: finding the runs is two vectorised comparisons, and the counting then touches a
few thousand runs instead of ~190,000 pixels. Maps too noisy for that (more than one run
per 8 pixels) go to OpenCV's ``calcHist`` on the (gt, pred) pair. Both are exact integer
counts; the usual ``np.bincount(C * gt[mask] + pred[mask])`` remains for wide dtypes.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np

from c2fbench.errors import InputError
from c2fbench.metrics.images import ImageIndex
from c2fbench.metrics.semantic import SemanticScores, semantic_scores

# calcHist counts in float32, exact up to 2**24 per bin; larger images take the int64 path.
_CALCHIST_MAX_PIXELS = 1 << 24
_MAX_RUN_FRACTION = 8


_scratch = threading.local()


def _scratch_masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two reusable bool buffers of n and n - 1 elements, one pair per thread.

    Fresh ~200 KB buffers per image cost more in page faults (measured ~100 us) than the
    comparisons that fill them (~25 us).
    """
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.size < 2 * n:
        buf = _scratch.buf = np.empty(2 * n, dtype=bool)
    return buf[:n], buf[n:2 * n - 1]


def _check_values(gt_values: np.ndarray, pred_values: np.ndarray, c: int, ignore_index: int, where: str) -> None:
    """Raise on a prediction outside [0, c) or a ground truth that is neither class nor void."""
    bad = (pred_values < 0) | (pred_values >= c)
    if bad.any():
        raise InputError(f"{where}prediction holds value {int(pred_values[bad][0])}, outside the class range 0..{c - 1}")
    bad = ((gt_values < 0) | (gt_values >= c)) & (gt_values != ignore_index)
    if bad.any():
        raise InputError(f"{where}ground truth holds value {int(gt_values[bad][0])}, "
                         f"neither a class 0..{c - 1} nor void {ignore_index}")


def _confusion_by_runs(gt: np.ndarray, pred: np.ndarray, c: int, ignore_index: int, where: str) -> np.ndarray | None:
    """(C, C) counts from runs of constant (gt, pred) in row-major order; None if too noisy."""
    g, p = np.ravel(gt), np.ravel(pred)
    n = g.size
    if n == 0:
        return np.zeros((c, c), dtype=np.int64)
    change, pred_change = _scratch_masks(n)
    change[0] = True
    np.not_equal(g[1:], g[:-1], out=change[1:])
    np.not_equal(p[1:], p[:-1], out=pred_change)
    np.logical_or(change[1:], pred_change, out=change[1:])
    starts = np.flatnonzero(change)
    if starts.size * _MAX_RUN_FRACTION > n:
        return None
    lengths = np.diff(starts, append=n)
    g_runs, p_runs = g[starts], p[starts]
    if p_runs.max() >= c:
        _check_values(g_runs, p_runs, c, ignore_index, where)
    # Each run lands in bin row(gt) + pred: rows 0..c-1 are the matrix, then one row for
    # void and one for values that are neither class nor void (an input error).
    index = _row_lut(c, ignore_index)[g_runs] + p_runs
    counts = np.bincount(index, weights=lengths, minlength=(c + 2) * c)
    if counts[(c + 1) * c:].any():
        _check_values(g_runs, p_runs, c, ignore_index, where)
    return counts[:c * c].astype(np.int64).reshape(c, c)


_ROW_LUTS: dict[tuple[int, int], np.ndarray] = {}


def _row_lut(c: int, ignore_index: int) -> np.ndarray:
    """(256,) intp: the first bin of each ground-truth value's row (see _confusion_by_runs)."""
    key = (c, ignore_index)
    if key not in _ROW_LUTS:
        lut = np.full(256, (c + 1) * c, dtype=np.intp)
        lut[:c] = np.arange(c) * c
        lut[ignore_index] = c * c
        _ROW_LUTS[key] = lut
    return _ROW_LUTS[key]


def _confusion_by_histogram(gt: np.ndarray, pred: np.ndarray, c: int, ignore_index: int, where: str) -> np.ndarray:
    """(C, C) counts from the 256x256 joint histogram of two uint8 maps."""
    if gt.size <= _CALCHIST_MAX_PIXELS:
        import cv2

        hist = cv2.calcHist([gt, pred], [0, 1], None, [256, 256], [0, 256, 0, 256])
    else:
        hist = np.bincount(((gt.astype(np.int64) << 8) | pred).ravel(), minlength=1 << 16).reshape(256, 256)
    present = hist.sum(axis=1) > 0, hist.sum(axis=0) > 0
    _check_values(np.flatnonzero(present[0]), np.flatnonzero(present[1]), c, ignore_index, where)
    return hist[:c, :c].astype(np.int64)


def image_confusion(gt: np.ndarray, pred: np.ndarray, num_classes: int, *,
                    ignore_index: int = 255, image_id: str | None = None) -> np.ndarray:
    """Confusion matrix of one image: (C, C) int64, rows = ground truth.

    Args:
        gt: (H, W) integer class indices; ``ignore_index`` marks void pixels.
        pred: (H, W) integer class indices in ``[0, num_classes)``.
        image_id: named in the error message when the input is bad.

    Raises InputError on a shape mismatch, a prediction value outside the class range, or
    a ground-truth value that is neither a class nor ``ignore_index``.

    >>> image_confusion(np.array([[0, 1], [1, 255]], np.uint8), np.array([[0, 1], [0, 0]], np.uint8), 2).tolist()
    [[1, 0], [1, 1]]
    """
    where = f"{image_id}: " if image_id else ""
    if gt.shape != pred.shape:
        raise InputError(f"{where}prediction is {_hw(pred)} but the ground truth is {_hw(gt)}")
    c = num_classes
    small = gt.dtype == np.uint8 and pred.dtype == np.uint8 and c <= ignore_index < 256
    if not small:
        return _confusion_any_dtype(gt, pred, c, ignore_index=ignore_index, where=where)
    counts = _confusion_by_runs(gt, pred, c, ignore_index, where)
    return counts if counts is not None else _confusion_by_histogram(gt, pred, c, ignore_index, where)


def _confusion_any_dtype(gt, pred, c, *, ignore_index, where):
    """The straightforward path for wide integer maps or more than 256 classes."""
    pred = np.asarray(pred).astype(np.int64, copy=False)
    gt = np.asarray(gt).astype(np.int64, copy=False)
    _check_values(gt, pred, c, ignore_index, where)
    keep = gt != ignore_index
    gt, pred = gt[keep], pred[keep]
    return np.bincount(c * gt + pred, minlength=c * c).reshape(c, c)


def _hw(a: np.ndarray) -> str:
    return "x".join(str(s) for s in a.shape[:2][::-1]) + " (WxH)"


def cell_stats(image: np.ndarray, gt: np.ndarray, pred: np.ndarray, count: np.ndarray, num_images: int,
               num_classes: int) -> np.ndarray:
    """(num_images, 3, C) int64 class statistics (true positives, ground-truth pixels,
    predicted pixels, per image and class) of per-image confusion cells given as (M,) arrays
    of image row, ground-truth class, predicted class and count; a cell listed twice adds."""
    n, c = num_images, num_classes
    image, gt, pred, count = (np.asarray(a, dtype=np.int64).ravel() for a in (image, gt, pred, count))
    stats = np.zeros((3, n * c), dtype=np.int64)
    hit = gt == pred
    np.add.at(stats[0], image[hit] * c + gt[hit], count[hit])
    np.add.at(stats[1], image * c + gt, count)
    np.add.at(stats[2], image * c + pred, count)
    return stats.reshape(3, n, c).transpose(1, 0, 2).copy()


class KeptCells:
    """Per-image counts kept sparse, as three int64 arrays: image row, cell and count (an
    image's cell may appear more than once: its counts add). Parts are appended as images come
    and joined when read, so that keeping one image costs no copy of the others."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, rows: np.ndarray, cells: np.ndarray, counts: np.ndarray) -> None:
        self._parts.append((rows, cells.astype(np.int64, copy=False), counts.astype(np.int64, copy=False)))
        if len(self._parts) >= 1024:  # a list of many small arrays costs more than their data
            self._parts = [self.arrays()]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self._parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        if len(self._parts) > 1:
            self._parts = [tuple(np.concatenate(a) for a in zip(*self._parts))]
        return self._parts[0]


class ConfusionMatrix:
    """Dataset-level confusion matrix accumulated image by image.

    ``update`` adds one image, ``merge`` adds another accumulator (a worker process's),
    ``reduce`` sums the state over processes (an all_reduce under torchrun), ``compute``
    returns the scores: the verbs of torchvision's reference ``ConfusionMatrix`` and of
    detectron2's evaluators. mIoU comes from the one accumulated matrix, never from an
    average of per-image IoUs.

    ``matrix`` is (C, C) int64, rows = ground truth. Given ``images`` (ids), the matrix of
    each of those images is kept as well, as its nonzero cells (an image holds a few classes:
    COCO val's 40,504 dense (81, 81) matrices would take 2.1 GB, their nonzero cells a few
    MB). ``per_image`` gives them as a dense (len(images), C, C) array in that order, and
    ``class_stats`` as (len(images), 3, C) [true positives, ground-truth pixels, predicted
    pixels] per class, all that IoU and its bootstrap need. Kept matrices add up like
    ``matrix``, so ``per_image.sum(axis=0) == matrix`` after any updates, merges and
    reductions. ``update``, when images are kept, names its image.

    >>> cm = ConfusionMatrix(num_classes=3)
    >>> _ = cm.update(np.array([[0, 1, 2]], np.uint8), np.array([[0, 1, 1]], np.uint8))
    >>> round(cm.compute().miou, 2)
    50.0
    """

    def __init__(self, num_classes: int, *, ignore_index: int = 255, images: Sequence[str] = ()) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.images = ImageIndex(images)
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        self._kept = KeptCells()

    def update(self, gt: np.ndarray, pred: np.ndarray, *, image_id: str | None = None) -> np.ndarray:
        """Add one (H, W) pair (see :func:`image_confusion`); returns that image's own (C, C)
        matrix. ``image_id`` is named in errors, and must be one of ``images`` when they are kept."""
        m = image_confusion(gt, pred, self.num_classes, ignore_index=self.ignore_index, image_id=image_id)
        if len(self.images):
            row = self.images.row(image_id)
            cells = np.flatnonzero(m)
            self._keep(np.full(cells.size, row, dtype=np.int64), cells, m.ravel()[cells])
        self.matrix += m
        return m

    def _keep(self, rows: np.ndarray, cells: np.ndarray, counts: np.ndarray) -> None:
        self._kept.add(rows, cells, counts)

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept per-image counts as three int64 arrays: image row, cell (gt * C + pred)
        and count; an image's cell may appear more than once (its counts add)."""
        return self._kept.arrays()

    @property
    def per_image(self) -> np.ndarray:
        """(len(images), C, C) int64: each kept image's matrix, dense."""
        n, c = len(self.images), self.num_classes
        rows, cells, counts = self.cells()
        dense = np.zeros(n * c * c, dtype=np.int64)
        np.add.at(dense, rows * (c * c) + cells, counts)
        return dense.reshape(n, c, c)

    def class_stats(self, *, sparse: bool = False):
        """(len(images), 3, C) int64: per kept image and class, true positives, ground-truth
        pixels and predicted pixels (:func:`c2fbench.metrics.semantic.stats_of`'s layout).
        ``sparse``: the same as a scipy CSR matrix of shape (len(images), 3C), what the
        bootstrap reads (dense, COCO val's would take 79 MB)."""
        rows, cells, counts = self.cells()
        if sparse:
            return self._sparse_class_stats(rows, cells, counts)
        c = self.num_classes
        return cell_stats(rows, cells // c, cells % c, counts, len(self.images), c)

    def _sparse_class_stats(self, rows: np.ndarray, cells: np.ndarray, counts: np.ndarray):
        """class_stats as CSR, built a block of images at a time so that nothing of the size
        of the dense array (or of several copies of the cells) is ever held."""
        from scipy import sparse as sp

        n, c = len(self.images), self.num_classes
        order = np.argsort(rows, kind="stable")
        ends = np.cumsum(np.bincount(rows, minlength=n))
        block = max(1, (1 << 18) // (3 * c))  # 2 MB of dense rows at a time
        parts = []
        for start in range(0, n, block):
            stop = min(n, start + block)
            pick = order[(ends[start - 1] if start else 0):ends[stop - 1]]
            cell = cells[pick]
            dense = cell_stats(rows[pick] - start, cell // c, cell % c, counts[pick], stop - start, c)
            parts.append(sp.csr_matrix(dense.reshape(stop - start, 3 * c)))
        return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, 3 * c), dtype=np.int64)

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add ``other``'s counts; when this keeps per-image matrices, ``other`` must keep
        those of the images it counted (a subset of these, by id)."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError("cannot merge confusion matrices of different classes or void index")
        if len(self.images):
            rows, cells, counts = other.cells()
            kept = np.bincount(cells, weights=counts, minlength=self.num_classes ** 2)
            if not np.array_equal(kept, other.matrix.ravel()):
                raise ValueError("cannot merge a confusion matrix without its per-image matrices into one that "
                                 "keeps them")
            self._keep(self.images.rows(other.images.ids)[rows], cells, counts)
        self.matrix += other.matrix
        return self

    def reduce(self, reduce_sum: Callable[[np.ndarray], np.ndarray]) -> "ConfusionMatrix":
        """Sum over processes, in place: ``reduce_sum`` all-reduces one array (SUM), as
        :func:`trainers.distributed.all_reduce_sum` does. Every process holds the same
        ``images`` and has updated its own share of them (torchvision's
        ``reduce_from_all_processes``). Only kept arrays travel: (C, C) without ``images``,
        and then the dense per-image matrices too."""
        self.matrix = reduce_sum(self.matrix)
        if len(self.images):
            dense = reduce_sum(self.per_image).reshape(len(self.images), -1)
            rows, cells = np.nonzero(dense)
            self._kept = KeptCells()
            self._kept.add(rows.astype(np.int64), cells.astype(np.int64), dense[rows, cells])
        return self

    def reset(self) -> None:
        """Zero the counts (and drop the kept per-image cells), e.g. before each validation epoch;
        the classes and ``images`` stay."""
        self.matrix[:] = 0
        self._kept = KeptCells()

    def compute(self) -> SemanticScores:
        """The scores of the accumulated (C, C) ``matrix``: (C,) per-class IoU and accuracy, and
        mIoU, aAcc, mAcc, fwIoU, all in percent (:func:`~c2fbench.metrics.semantic.semantic_scores`)."""
        return semantic_scores(self.matrix)
