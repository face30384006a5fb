"""Confusion matrices at many background thresholds in one pass: the CAM seed sweep.

A CAM seed labels a pixel by argmax over [background, the image's classes], background
being the threshold t (IRN's ``eval_cam.py`` pads the CAM stack with t, background first).
Per pixel, the winning class ``w`` (the first of the highest scores: the lower class index
on a tie) and its score ``m`` do not depend on t; the label at t is

    background  where m <= t   (a tie goes to background, the first channel)
    w           where m >  t

with t rounded to the scores' dtype first (float32 for IRN's maps, as ``np.pad`` stores it).

So each pixel is put once in a bucket ``b``, the number of thresholds below its score
(``searchsorted(t, m, "left")``: t_i < m exactly for i < b), and one bincount over
(bucket, ground truth, winner) counts every pixel. At threshold i the pixels of buckets
b > i keep their winner and those of buckets b <= i are background: a suffix sum and a
prefix sum over the buckets give every threshold's (C, C) matrix, exactly. Pixels whose
label is decided without a threshold (a file with its own background channel, or
``--bg-power``) are given ``m = +inf``: their label is ``w`` at every threshold.

:class:`ThresholdSweep` is a metric object (``update`` / ``merge`` / ``compute``) like
:class:`~c2fbench.metrics.confusion.ConfusionMatrix`, and keeps each image's counts (its few
nonzero (bucket, gt, winner) cells) so that any threshold's per-image matrices can be had
afterwards (:meth:`ThresholdSweep.at`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from c2fbench.errors import InputError
from c2fbench.metrics.confusion import ConfusionMatrix, KeptCells
from c2fbench.metrics.images import ImageIndex


class ThresholdSweep:
    """Counts of (bucket, ground truth, winner) over a split, for the T ``thresholds``
    (ascending). ``counts`` is (T + 1, C, C) int64; :meth:`compute` gives the (T, C, C)
    confusion matrices, one per threshold. Given ``images`` (ids), each image's counts are
    kept for :meth:`at`'s per-image matrices (and a bootstrap at the chosen threshold).

    >>> sweep = ThresholdSweep(2, [0.2, 0.4])
    >>> sweep.update(np.array([[0, 1, 1]], np.uint8), np.array([[0.1, 0.5, 0.3]], np.float32),
    ...              np.array([[1, 1, 1]], np.uint8))
    >>> sweep.compute().tolist()  # at 0.2 every pixel above it is class 1; at 0.4 only 0.5 is
    [[[1, 0], [0, 2]], [[1, 0], [1, 1]]]
    """

    def __init__(self, num_classes: int, thresholds: Sequence[float], *, images: Sequence[str] = (),
                 ignore_index: int = 255) -> None:
        t = np.asarray(thresholds, dtype=np.float64)
        if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0):
            raise ValueError("thresholds must be a non-empty ascending sequence")
        self.num_classes, self.thresholds, self.ignore_index = num_classes, t, ignore_index
        self.images = ImageIndex(images)
        self.counts = np.zeros((t.size + 1, num_classes, num_classes), dtype=np.int64)
        self._kept = KeptCells()

    def update(self, gt: np.ndarray, score: np.ndarray, winner: np.ndarray, *, image_id: str | None = None) -> None:
        """Add one image: (H, W) ground truth, the winning class's (H, W) float ``score``
        (+inf where the label needs no threshold) and the (H, W) ``winner``, class indices
        (0 allowed where ``score`` is +inf: background decided by the file). From a (K, H, W)
        CAM stack of the image's K classes ``classes`` (indices, background 0 excluded):
        ``score = cams.max(0)``, ``winner = classes[cams.argmax(0)]``. ``image_id`` must be one
        of ``images`` when they are kept."""
        where = f"{image_id}: " if image_id else ""
        c = self.num_classes
        if not (gt.shape == score.shape == winner.shape):
            raise InputError(f"{where}the CAM is {score.shape[1]}x{score.shape[0]} but the ground truth is "
                             f"{gt.shape[1]}x{gt.shape[0]} (WxH)")
        # rows: the classes, then void; a value that is neither is an input error
        row = np.full(256, c + 1, dtype=np.intp)
        row[:c], row[self.ignore_index] = np.arange(c), c
        g = row[gt] if gt.dtype == np.uint8 else np.where(gt == self.ignore_index, c, gt).astype(np.intp)
        if g.size and int(g.max()) > c:
            bad = gt[(g > c) | (g < 0)] if gt.dtype != np.uint8 else gt[g > c]
            raise InputError(f"{where}ground truth holds value {int(bad[0])}, neither a class 0..{c - 1} nor void "
                             f"{self.ignore_index}")
        cells = self._buckets(score) * ((c + 1) * c) + g * c + winner
        counts = np.bincount(cells.ravel(), minlength=self.counts.shape[0] * (c + 1) * c)
        counts = counts.reshape(self.counts.shape[0], c + 1, c)[:, :c].ravel()  # void's row dropped
        self.counts += counts.reshape(self.counts.shape)
        if len(self.images):
            nonzero = np.flatnonzero(counts)
            self._kept.add(np.full(nonzero.size, self.images.row(image_id), dtype=np.int64), nonzero, counts[nonzero])

    def _buckets(self, score: np.ndarray) -> np.ndarray:
        """(H, W) intp: how many thresholds lie below each score, compared in the scores'
        dtype (t_i < m, so a score equal to a threshold is background there). A few
        thresholds are counted by comparisons, many by binary search."""
        t = self.thresholds.astype(score.dtype) if score.dtype.kind == "f" else self.thresholds
        if t.size > 32:
            return np.searchsorted(t, score, side="left")
        bucket = np.zeros(score.shape, dtype=np.uint8)
        above = np.empty(score.shape, dtype=bool)
        for value in t:
            np.greater(score, value, out=above)
            bucket += above
        return bucket.astype(np.intp)

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kept per-image counts: image row, cell ((bucket * C + gt) * C + winner), count."""
        return self._kept.arrays()

    def merge(self, other: "ThresholdSweep") -> "ThresholdSweep":
        """Add ``other``'s counts (a worker's chunk; its images a subset of these, by id)."""
        if other.counts.shape != self.counts.shape or not np.array_equal(other.thresholds, self.thresholds):
            raise ValueError("cannot merge sweeps of different classes or thresholds")
        if len(self.images):
            rows, cells, counts = other.cells()
            self._kept.add(self.images.rows(other.images.ids)[rows], cells, counts)
        self.counts += other.counts
        return self

    def compute(self) -> np.ndarray:
        """(T, C, C) int64: the confusion matrix at each threshold (rows ground truth)."""
        return matrices_of(self.counts)

    def at(self, index: int) -> ConfusionMatrix:
        """The ConfusionMatrix, per-image matrices kept, at threshold ``thresholds[index]``."""
        c = self.num_classes
        metric = ConfusionMatrix(c, ignore_index=self.ignore_index, images=self.images.ids)
        rows, cells, counts = self.cells()
        bucket, gt, winner = cells // (c * c), cells // c % c, cells % c
        pred = np.where(bucket > index, winner, 0)
        metric.matrix[:] = matrices_of(self.counts)[index]
        if len(self.images):
            metric._keep(rows, gt * c + pred, counts)
        return metric


def matrices_of(counts: np.ndarray) -> np.ndarray:
    """(T, C, C) confusion matrices from (T + 1, C, C) (bucket, gt, winner) counts: at
    threshold i, buckets above i keep their winner, the others are background (column 0)."""
    counts = np.asarray(counts, dtype=np.int64)
    above = np.cumsum(counts[::-1], axis=0)[::-1]  # above[b] = sum of buckets >= b
    below = np.cumsum(counts.sum(axis=2), axis=0)  # below[b] = gt pixels of buckets <= b
    matrices = above[1:].copy()
    matrices[:, :, 0] += below[:-1]
    return matrices
