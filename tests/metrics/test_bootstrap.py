"""Bootstrap intervals: a second, explicit resampling loop as oracle, and limiting cases."""

import numpy as np
import pytest

from c2fbench.metrics.bootstrap import bootstrap_mean_j, bootstrap_miou, paired_bootstrap_mean_j
from c2fbench.metrics.semantic import semantic_scores


def explicit_bootstrap_miou(per_image, n, seed):
    """Draw the same index sets, but sum the chosen images one by one."""
    rng = np.random.default_rng(seed)
    values = []
    remaining = n
    while remaining:
        b = min(128, remaining)
        idx = rng.integers(0, len(per_image), size=(b, len(per_image)))
        values += [semantic_scores(per_image[row].sum(axis=0)).miou for row in idx]
        remaining -= b
    return np.percentile(values, [2.5, 97.5])


def test_matches_an_explicit_resampling_loop():
    rng = np.random.default_rng()
    per_image = rng.integers(0, 40, size=(30, 4, 4))
    low, high = bootstrap_miou(per_image, n=300, seed=7)
    assert (low, high) == pytest.approx(tuple(explicit_bootstrap_miou(per_image, 300, 7)))


def test_identical_images_give_a_zero_width_interval_at_the_point_estimate():
    one = np.array([[5, 1], [2, 7]])
    per_image = np.repeat(one[None], 25, axis=0)
    low, high = bootstrap_miou(per_image, n=200)
    assert low == pytest.approx(semantic_scores(one).miou)
    assert high == pytest.approx(low)


def test_interval_brackets_the_point_estimate_and_narrows_with_more_images():
    rng = np.random.default_rng()
    def width(n_images):
        per_image = rng.integers(0, 30, size=(n_images, 3, 3))
        low, high = bootstrap_miou(per_image, n=400)
        point = semantic_scores(per_image.sum(axis=0)).miou
        assert low <= point <= high
        return high - low
    assert width(400) < width(20)


def test_mean_j_interval_is_stratified_by_class_and_ignores_noise_images():
    group = np.array([0] * 10 + [1] * 10)
    j = np.array([0.5] * 10 + [0.9] * 9 + [np.nan])
    low, high = bootstrap_mean_j(group, j, n=100)
    assert low == pytest.approx(70.0) and high == pytest.approx(70.0)


def reference_mean_j(group, j, n, seed):
    """The straightforward, unbatched loop: per class in index order, all n resamples'
    indices in one draw, each resample averaged by indexing."""
    rng = np.random.default_rng(seed)
    per_class = []
    for k in np.unique(group):
        jk = j[(group == k) & ~np.isnan(j)]
        if jk.size == 0:
            continue
        idx = rng.integers(0, jk.size, size=(n, jk.size))
        per_class.append([100 * jk[row].mean() for row in idx])
    return tuple(np.percentile(np.mean(per_class, axis=0), [2.5, 97.5]))


def test_batched_mean_j_matches_a_straightforward_loop():
    rng = np.random.default_rng()
    group = rng.integers(0, 3, size=90)
    j = rng.random(90)
    j[rng.random(90) < 0.1] = np.nan  # noise images
    assert bootstrap_mean_j(group, j, n=300, seed=5) == pytest.approx(reference_mean_j(group, j, 300, 5), rel=1e-12)


def test_batched_paired_mean_j_matches_a_straightforward_loop():
    rng = np.random.default_rng()
    group = rng.integers(0, 3, size=60)
    j_a, j_b = rng.random(60), rng.random(60)
    noise = rng.random(60) < 0.1
    j_a[noise] = j_b[noise] = np.nan
    expected = reference_mean_j(group, j_a - j_b, 300, 11)
    assert paired_bootstrap_mean_j(group, j_a, j_b, n=300, seed=11) == pytest.approx(expected, rel=1e-12)


def test_mean_j_memory_is_bounded_by_the_batch_not_the_resample_count():
    """10,000 resamples of 1,200 images held at once take 96 MB per int64 array (and the
    unbatched code held several); batched, the peak stays near one batch."""
    import tracemalloc

    group = np.zeros(1200, dtype=int)
    j = np.random.default_rng().random(1200)
    tracemalloc.start()
    try:
        bootstrap_mean_j(group, j, n=10_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak
