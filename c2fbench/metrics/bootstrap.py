"""Bootstrap intervals over images.

Images are resampled with replacement and the dataset-level metric is recomputed on each
resample; the interval is the 2.5th and 97.5th percentiles (the percentile bootstrap).
mIoU is recomputed from the summed per-image confusion matrices, never averaged per image.
"""

from __future__ import annotations

import numpy as np

from c2fbench.metrics.semantic import miou_of

_BATCH = 128


def resample_counts(rng: np.random.Generator, n_items: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n_items) multiplicities of each item in each resample."""
    idx = rng.integers(0, n_items, size=(n_resamples, n_items))
    offsets = np.arange(n_resamples)[:, None] * n_items
    return np.bincount((idx + offsets).ravel(), minlength=n_resamples * n_items).reshape(n_resamples, n_items)


def bootstrap_miou(per_image: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of mIoU (percent) from (N, C, C) per-image confusion matrices."""
    num, c, _ = per_image.shape
    flat = per_image.reshape(num, c * c).astype(np.float64)
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n, _BATCH):
        w = resample_counts(rng, num, min(_BATCH, n - start)).astype(np.float64)
        values.append(miou_of((w @ flat).reshape(-1, c, c)))
    return _interval(np.concatenate(values))


def bootstrap_mean_j(group: np.ndarray, j: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over classes of per-class mean J (percent).

    Resampling is stratified by class: each class's scored images (J not NaN) are resampled
    within the class, so every resample keeps the benchmark's class balance.
    """
    rng = np.random.default_rng(seed)
    per_class = []
    for k in np.unique(group):
        jk = j[(group == k) & ~np.isnan(j)]
        if jk.size == 0:
            continue
        w = resample_counts(rng, jk.size, n)
        per_class.append(100 * (w @ jk) / jk.size)
    if not per_class:
        return float("nan"), float("nan")
    return _interval(np.mean(per_class, axis=0))


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap_miou(a: np.ndarray, b: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of mIoU(a) - mIoU(b) (points) when both are resampled with the SAME images.

    ``a`` and ``b`` are (N, C, C) per-image confusion matrices of two models on the same N
    images in the same order. Pairing removes the between-image variance both share.
    """
    num, c, _ = a.shape
    flat_a = a.reshape(num, c * c).astype(np.float64)
    flat_b = b.reshape(num, c * c).astype(np.float64)
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n, _BATCH):
        w = resample_counts(rng, num, min(_BATCH, n - start)).astype(np.float64)
        values.append(miou_of((w @ flat_a).reshape(-1, c, c)) - miou_of((w @ flat_b).reshape(-1, c, c)))
    return _interval(np.concatenate(values))


def paired_bootstrap_mean_j(group: np.ndarray, j_a: np.ndarray, j_b: np.ndarray, *, n: int,
                            seed: int = 0) -> tuple[float, float]:
    """95% interval of mean J(a) - mean J(b), resampling the same images within each class."""
    rng = np.random.default_rng(seed)
    per_class = []
    for k in np.unique(group):
        sel = (group == k) & ~np.isnan(j_a) & ~np.isnan(j_b)
        if not sel.any():
            continue
        w = resample_counts(rng, int(sel.sum()), n)
        per_class.append(100 * (w @ (j_a[sel] - j_b[sel])) / sel.sum())
    if not per_class:
        return float("nan"), float("nan")
    return _interval(np.mean(per_class, axis=0))
