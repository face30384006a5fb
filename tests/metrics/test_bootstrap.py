"""Bootstrap intervals: a second, explicit resampling loop as oracle, and limiting cases."""

import numpy as np
import pytest

from c2fbench.metrics.bootstrap import bootstrap_mean_j, bootstrap_miou
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
