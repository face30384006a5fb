"""Bootstrap intervals over images.

Images are resampled with replacement and the dataset-level metric is recomputed on each
resample; the interval is the 2.5th and 97.5th percentiles (the percentile bootstrap).
mIoU is recomputed from the summed per-image confusion matrices, never averaged per image.

**One statistic in every resample.** The point estimate averages IoU over the classes of
the full data (non-empty union: in the ground truth or predicted somewhere). A resample
that happens to miss every image holding a rare class has an empty union for it. Three
ways to count such a class, and the one taken:

- drop it from that resample's mean (what a metric library's nanmean does, and what this
  module did before): each resample then averages a *different* set of classes. Rare
  classes, often the worst scored, drop out of about a third of the resamples (a class in
  one of N images is missed with probability (1 - 1/N)^N ≈ 0.37), so the resamples drift
  upward and the interval can exclude its own point estimate (``7.82 [8.39, 17.87]`` was
  reported on a small split);
- count it as 0 or 100 (a constant ``absent_score``, as torchmetrics' JaccardIndex once
  offered): a value unrelated to the model that pulls every such resample down or up;
- **count it with its full-data IoU** (this module): the resample holds no evidence on
  that class, so the class keeps its plug-in value and moves the resample neither way.
  The statistic is the same function of the data in every resample (the mean over the
  full-data classes), so the resample that draws every image once (or each image k times)
  returns the point estimate bit for bit. Such a class adds no spread in the resamples
  that miss it, which is the honest reading of "no evidence" rather than a narrowing
  artefact: the resamples that do draw it carry its variability.

The percentile interval then brackets the point estimate whenever at least 2.5% of the
resamples fall on each side of it or on it. For up to 5 images this holds with exact
bootstrap probabilities: the resample that draws each image once has probability
N!/N^N >= 3.8% and returns the point estimate itself. Beyond that the fixed class set
leaves only each class's ratio of summed counts to vary, which resampling spreads around
the point estimate instead of shifting it. ``tests/metrics/test_bootstrap_coverage.py``
checks the bracket on many random splits of 2 to 8 images with rare classes, where the
old rule fails.

**Percentile, basic or BCa.** The percentile interval (used here, as in most evaluation
toolkits that report intervals) stays inside [0, 100] and is invariant to monotone
transforms of the metric, but inherits any bias of the statistic. The basic (reverse
percentile) interval ``[2t - q97.5, 2t - q2.5]`` corrects the location by reflection; it
contains the point estimate exactly when the percentile interval does, and can leave
[0, 100] for scores near the ends. BCa (the default of ``scipy.stats.bootstrap``) adjusts
the percentiles for bias (the share of resamples below the estimate) and skew (a
jackknife over images, N more recomputations); it is second-order accurate on large
samples, but with a handful of images its endpoints land on extreme, noisy percentiles,
and its bias correction does not make an interval bracket an estimate that a drifting
class set has displaced. With the class set fixed, the percentile interval's remaining
bias is that of a ratio estimator, small next to the spread over images, so the simplest
interval is kept.

**Batches.** Resamples are drawn ``_BATCH`` at a time (fewer when the images are many, so
that a batch holds at most ``_BATCH_ITEMS`` weights), so memory is bounded whatever
``n`` (10,000 mean-J resamples over Object Discovery's full folders once held 659 MB).
The stream does not depend on the batching: numpy's bit generator keeps any buffered
half-word in its own state, so drawing a (n, items) array of indices in row batches gives
the same indices as one call, and the intervals equal those of the unbatched code for the
same seed (checked against a one-call reference in the tests). Mean J draws class by
class in index order, each class's resamples in batches.

MIT's mean J has no class-set issue: each class's scored images are resampled within the
class (stratified), so every class with a scored image keeps at least one in every
resample, the same classes the point estimate averages.
"""

from __future__ import annotations

import numpy as np

from c2fbench.metrics.semantic import miou_of_stats, stats_of

_BATCH = 128


def resample_counts(rng: np.random.Generator, n_items: int, n_resamples: int) -> np.ndarray:
    """(n_resamples, n_items) multiplicities of each item in each resample."""
    idx = rng.integers(0, n_items, size=(n_resamples, n_items))
    offsets = np.arange(n_resamples)[:, None] * n_items
    return np.bincount((idx + offsets).ravel(), minlength=n_resamples * n_items).reshape(n_resamples, n_items)


_BATCH_ITEMS = 1 << 18  # resample weights held at once (2 MB as float64): COCO val's 40,504 images -> 6 rows


def _batches(n: int, items: int = 1):
    """Sizes of the batches of ``n`` resamples over ``items`` items: ``_BATCH`` at a time, fewer
    when a batch of weights would pass ``_BATCH_ITEMS`` (the draws do not depend on it)."""
    batch = max(1, min(_BATCH, _BATCH_ITEMS // max(items, 1)))
    for start in range(0, n, batch):
        yield min(batch, n - start)


def _stats_matrix(stats) -> tuple[object, int]:
    """(N, 3C) float64 of per-image class statistics, sparse: an image holds a few of the C
    classes, and a resample's sums of integer counts are exact in any order, so the sparse
    product equals the dense one bit for bit at a fraction of the memory (COCO val's dense
    (40,504, 243) float64 alone is 79 MB). Accepts (N, 3, C) arrays or (N, 3C) sparse matrices."""
    from scipy import sparse

    if sparse.issparse(stats):
        return sparse.csr_matrix(stats, dtype=np.float64), stats.shape[1] // 3
    num, three, c = stats.shape
    return sparse.csr_matrix(stats.reshape(num, three * c), dtype=np.float64), c


def _resampled_sums(flat, weights: np.ndarray, c: int) -> np.ndarray:
    """(R, 3, C) statistics of R resamples: ``weights`` (R, N) multiplicities of ``flat``'s rows."""
    return np.asarray((flat.T @ weights.T).T).reshape(len(weights), 3, c)


def bootstrap_miou(per_image: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of mIoU (percent) from (N, C, C) per-image confusion matrices
    (:func:`bootstrap_miou_stats` of their class statistics)."""
    return bootstrap_miou_stats(stats_of(per_image), n=n, seed=seed)


def bootstrap_miou_stats(stats: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of mIoU (percent) from (N, 3, C) per-image class statistics (true
    positives, ground-truth and predicted pixels: :func:`c2fbench.metrics.semantic.stats_of`).

    Every resample averages the full data's classes (see the module docstring). A resample's
    statistics are sums of integer counts, exact in float64, so the IoUs equal those of the
    resampled confusion matrices bit for bit, at 3C numbers per image instead of C * C.
    """
    flat, c = _stats_matrix(stats)
    full = np.asarray(flat.sum(axis=0)).reshape(3, c)
    rng = np.random.default_rng(seed)
    values = [miou_of_stats(_resampled_sums(flat, resample_counts(rng, flat.shape[0], size).astype(np.float64), c),
                            reference=full)
              for size in _batches(n, flat.shape[0])]
    return _interval(np.concatenate(values))


def paired_bootstrap_miou(a: np.ndarray, b: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of mIoU(a) - mIoU(b) (points) when both are resampled with the SAME images.

    ``a`` and ``b`` are (N, C, C) per-image confusion matrices of two models on the same N
    images in the same order (:func:`paired_bootstrap_miou_stats` of their class statistics).
    """
    return paired_bootstrap_miou_stats(stats_of(a), stats_of(b), n=n, seed=seed)


def paired_bootstrap_miou_stats(a: np.ndarray, b: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """:func:`paired_bootstrap_miou` from (N, 3, C) per-image class statistics.

    Pairing removes the between-image variance both share. Each side keeps its own
    headline's full-data class set in every resample, so the statistic is exactly the
    difference of the two headline mIoUs (the sets differ only by a class absent from the
    ground truth that one model predicts somewhere: it scores 0 there and is not a class of
    the other model's mean).
    """
    (flat_a, c), (flat_b, _) = _stats_matrix(a), _stats_matrix(b)
    full_a, full_b = (np.asarray(f.sum(axis=0)).reshape(3, c) for f in (flat_a, flat_b))
    rng = np.random.default_rng(seed)
    values = []
    for size in _batches(n, flat_a.shape[0]):
        w = resample_counts(rng, flat_a.shape[0], size).astype(np.float64)
        values.append(miou_of_stats(_resampled_sums(flat_a, w, c), reference=full_a)
                      - miou_of_stats(_resampled_sums(flat_b, w, c), reference=full_b))
    return _interval(np.concatenate(values))


def bootstrap_mean_j(group: np.ndarray, j: np.ndarray, *, n: int, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over classes of per-class mean J (percent), from (N,) ``group``
    (each image's class index) and (N,) per-image ``j`` in [0, 1] (NaN: not scored).

    Resampling is stratified by class: each class's scored images (J not NaN) are resampled
    within the class, so every resample keeps the benchmark's class balance and the point
    estimate's classes. Classes are drawn in index order, each in batches of ``_BATCH``.
    """
    group, j = np.asarray(group), np.asarray(j, dtype=np.float64)
    return _stratified(group, j, ~np.isnan(j), n=n, seed=seed)


def paired_bootstrap_mean_j(group: np.ndarray, j_a: np.ndarray, j_b: np.ndarray, *, n: int,
                            seed: int = 0) -> tuple[float, float]:
    """95% interval of mean J(a) - mean J(b) (points), resampling the same images within each
    class: (N,) ``group``, (N,) per-image ``j_a`` and ``j_b`` in [0, 1] of the same images.

    Both results must score J on the same images (J is NaN exactly where the ground truth
    has no foreground, so two results of one benchmark agree); the caller checks it.
    """
    group = np.asarray(group)
    j_a, j_b = np.asarray(j_a, dtype=np.float64), np.asarray(j_b, dtype=np.float64)
    return _stratified(group, j_a - j_b, ~np.isnan(j_a) & ~np.isnan(j_b), n=n, seed=seed)


def _stratified(group: np.ndarray, values: np.ndarray, scored: np.ndarray, *, n: int,
                seed: int) -> tuple[float, float]:
    """Percentile interval of the mean over classes of each class's mean of ``values``."""
    rng = np.random.default_rng(seed)
    per_class = []
    for k in np.unique(group):
        vk = values[(group == k) & scored]
        if vk.size == 0:
            continue
        means = [resample_counts(rng, vk.size, size) @ vk for size in _batches(n, vk.size)]
        per_class.append(100 * np.concatenate(means) / vk.size)
    if not per_class:
        return float("nan"), float("nan")
    return _interval(np.mean(per_class, axis=0))


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)
