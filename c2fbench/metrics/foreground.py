"""Foreground segmentation scores as in the MIT Object Discovery protocol.

Per image (Rubinstein et al. 2013, as implemented by SegSwap's ``compute_acc_iou``; see
reference/eval-anchors.md section 3):

- P, pixel accuracy: the fraction of all pixels whose foreground/background label is right;
- J, foreground IoU: |pred & gt| / |pred | gt|, defined only when the ground truth has
  foreground. Noise images (empty ground truth) are skipped for J but scored for P.

Both are averaged over the images of each class, then over the classes.
:class:`ForegroundJP` accumulates them image by image, the foreground twin of
:class:`c2fbench.metrics.confusion.ConfusionMatrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from c2fbench.errors import InputError
from c2fbench.metrics.images import ImageIndex


def image_jp(gt: np.ndarray, pred: np.ndarray, *, image_id: str | None = None) -> tuple[float, float]:
    """(J, P) of one image in [0, 1]; J is NaN when the ground truth has no foreground.

    Args:
        gt, pred: (H, W) boolean foreground masks of the same size.

    >>> image_jp(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool))
    (0.3333333333333333, 0.5)
    """
    if gt.shape != pred.shape:
        where = f"{image_id}: " if image_id else ""
        raise InputError(f"{where}prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but the ground truth is "
                         f"{gt.shape[1]}x{gt.shape[0]}")
    inter = int(np.count_nonzero(gt & pred))
    gt_area = int(np.count_nonzero(gt))
    union = gt_area + int(np.count_nonzero(pred)) - inter
    j = inter / union if gt_area > 0 else float("nan")
    p = 1.0 - int(np.count_nonzero(gt ^ pred)) / gt.size
    return j, p


@dataclass(frozen=True)
class ForegroundScores:
    """Per-class and mean J and P, in percent (NaN where a class has no scored image): ``j``,
    ``p`` (C,) float64, ``num_images`` and ``num_images_scored_j`` (C,) int, one per class."""

    classes: tuple[str, ...]
    j: np.ndarray
    p: np.ndarray
    num_images: np.ndarray
    num_images_scored_j: np.ndarray

    @property
    def mean_j(self) -> float:
        return float(np.nanmean(self.j)) if np.isfinite(self.j).any() else float("nan")

    @property
    def mean_p(self) -> float:
        return float(np.nanmean(self.p)) if np.isfinite(self.p).any() else float("nan")

    def to_dict(self) -> dict:
        """The scores as metrics.json writes them: per class J, P and image counts, mean_J and
        mean_P, None for NaN."""
        per_class = {
            name: {"J": _none_if_nan(j), "P": _none_if_nan(p), "num_images": int(n), "num_images_scored_J": int(nj)}
            for name, j, p, n, nj in zip(self.classes, self.j, self.p, self.num_images, self.num_images_scored_j)
        }
        return {"per_class": per_class, "mean_J": _none_if_nan(self.mean_j), "mean_P": _none_if_nan(self.mean_p)}


def foreground_scores(classes, group: np.ndarray, j: np.ndarray, p: np.ndarray) -> ForegroundScores:
    """Per-class mean J and P (percent) from (N,) per-image ``j`` and ``p`` in [0, 1] (J NaN
    where the image has no foreground: not counted for J) and (N,) ``group``, each image's
    class index into ``classes``."""
    group = np.asarray(group)
    jc, pc, n, nj = [], [], [], []
    for k in range(len(classes)):
        sel = group == k
        jk = j[sel]
        scored = ~np.isnan(jk)
        n.append(int(sel.sum()))
        nj.append(int(scored.sum()))
        jc.append(100 * jk[scored].mean() if scored.any() else np.nan)
        pc.append(100 * p[sel].mean() if sel.any() else np.nan)
    return ForegroundScores(tuple(classes), np.array(jc), np.array(pc), np.array(n), np.array(nj))


class ForegroundJP:
    """J and P accumulated image by image: ``update``, ``merge``, ``reduce`` and ``compute``
    as :class:`~c2fbench.metrics.confusion.ConfusionMatrix` has them, for eval, training-time
    validation, the DDP reduction and deploy parity on a foreground benchmark.

    The protocol's scores are means of per-image values, so every image's are kept:
    ``per_image`` (N, 2) float64 [J, P] in [0, 1] in the order of ``images``, J NaN where the
    ground truth has no foreground; ``group`` (N,) each image's class index into ``classes``.
    An image not yet updated holds [0, 0], so that accumulators that each updated their
    own share of the images add up (merge, reduce); :meth:`compute` expects each image
    updated once in one of them.

    >>> fg = ForegroundJP(["Car"], images=["a", "b"], group=[0, 0])
    >>> _ = fg.update(np.array([[1, 0]], bool), np.array([[1, 1]], bool), image_id="a")
    >>> _ = fg.update(np.array([[0, 0]], bool), np.array([[0, 0]], bool), image_id="b")
    >>> fg.compute().to_dict()["per_class"]["Car"]["J"], fg.compute().mean_p
    (50.0, 75.0)
    """

    def __init__(self, classes: Sequence[str], *, images: Sequence[str], group: Sequence[int]) -> None:
        self.classes = tuple(classes)
        self.images = ImageIndex(images)
        self.group = np.array(group, dtype=np.int64)
        if self.group.shape != (len(self.images),):
            raise ValueError(f"group must give the class of each of the {len(self.images)} images, "
                             f"got shape {self.group.shape}")
        self.per_image = np.zeros((len(self.images), 2), dtype=np.float64)

    def update(self, gt: np.ndarray, pred: np.ndarray, *, image_id: str) -> tuple[float, float]:
        """Score one pair of (H, W) bool masks (see :func:`image_jp`); returns its (J, P)."""
        row = self.images.row(image_id)
        jp = image_jp(gt, pred, image_id=image_id)
        self.per_image[row] += jp
        return jp

    def merge(self, other: "ForegroundJP") -> "ForegroundJP":
        """Add ``other``'s images (a subset of these, by id, of the same classes)."""
        rows = self.images.rows(other.images.ids)
        if other.classes != self.classes or not np.array_equal(self.group[rows], other.group):
            raise ValueError("cannot merge foreground scores of other classes or other image classes")
        self.per_image[rows] += other.per_image
        return self

    def reduce(self, reduce_sum: Callable[[np.ndarray], np.ndarray]) -> "ForegroundJP":
        """Sum over processes, in place (see ``ConfusionMatrix.reduce``): the (N, 2) [J, P],
        zero on every process but the one that scored an image (NaN + 0 stays NaN)."""
        self.per_image = reduce_sum(self.per_image)
        return self

    def reset(self) -> None:
        """Zero the (N, 2) per-image [J, P]; ``images`` and ``group`` stay."""
        self.per_image[:] = 0

    def compute(self) -> ForegroundScores:
        """Per-class J and P (percent) and their means over classes, from the (N, 2) ``per_image``."""
        return foreground_scores(self.classes, self.group, self.per_image[:, 0], self.per_image[:, 1])


def _none_if_nan(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v
