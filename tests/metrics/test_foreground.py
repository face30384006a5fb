"""J and P against hand-computed cases, including noise images with empty ground truth; the
ForegroundJP metric object merged from chunks and reduced over ranks."""

import math

import numpy as np
import pytest

from c2fbench.errors import InputError
from c2fbench.metrics.foreground import ForegroundJP, foreground_scores, image_jp


def test_j_and_p_by_hand():
    gt = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], bool)
    pred = np.array([[0, 1, 1, 1], [1, 0, 0, 0]], bool)
    j, p = image_jp(gt, pred)
    assert j == pytest.approx(2 / 5)  # intersection 2, union 5
    assert p == pytest.approx(5 / 8)  # 3 wrong pixels of 8


def test_empty_ground_truth_skips_j_but_scores_p():
    gt = np.zeros((2, 5), bool)
    pred = np.zeros((2, 5), bool)
    pred[0, :2] = True
    j, p = image_jp(gt, pred)
    assert math.isnan(j)
    assert p == pytest.approx(0.8)


def test_empty_prediction_on_an_object_image_scores_zero_j():
    gt = np.ones((3, 3), bool)
    j, p = image_jp(gt, np.zeros((3, 3), bool))
    assert j == 0.0 and p == 0.0


def test_size_mismatch_names_the_image():
    with pytest.raises(InputError, match="Car/0003"):
        image_jp(np.zeros((3, 4), bool), np.zeros((4, 4), bool), image_id="Car/0003")


def test_per_class_means_exclude_noise_images_from_j_only():
    group = np.array([0, 0, 0, 1, 1])
    j = np.array([0.5, np.nan, 1.0, 0.2, 0.4])
    p = np.array([0.9, 0.7, 0.8, 0.6, 0.5])
    s = foreground_scores(("A", "B", "C"), group, j, p)
    assert s.j[:2] == pytest.approx([75.0, 30.0])
    assert s.p[:2] == pytest.approx([80.0, 55.0])
    assert math.isnan(s.j[2])  # a class with no images is excluded from the means
    assert s.mean_j == pytest.approx(52.5)
    assert s.mean_p == pytest.approx(67.5)
    d = s.to_dict()
    assert d["per_class"]["A"]["num_images"] == 3 and d["per_class"]["A"]["num_images_scored_J"] == 2
    assert d["per_class"]["C"]["J"] is None


def _masks(rng, n):
    """n (gt, pred) pairs of random masks; every third ground truth empty (a noise image)."""
    pairs = []
    for k in range(n):
        gt = rng.random((6, 7)) < (0 if k % 3 == 0 else 0.4)
        pairs.append((gt, rng.random((6, 7)) < 0.4))
    return pairs


def test_foreground_jp_equals_the_per_image_oracle_whether_merged_or_reduced():
    rng = np.random.default_rng()
    pairs = _masks(rng, 10)
    ids, group = [f"i{k}" for k in range(10)], [k % 3 for k in range(10)]
    jp = np.array([image_jp(gt, pred) for gt, pred in pairs])
    expected = foreground_scores(("A", "B", "C"), np.array(group), jp[:, 0], jp[:, 1])

    merged = ForegroundJP(("A", "B", "C"), images=ids, group=group)
    for chunk in (range(6, 10), range(0, 6)):
        part = ForegroundJP(("A", "B", "C"), images=[ids[k] for k in chunk], group=[group[k] for k in chunk])
        for k in chunk:
            part.update(*pairs[k], image_id=ids[k])
        merged.merge(part)

    ranks = [ForegroundJP(("A", "B", "C"), images=ids, group=group) for _ in range(2)]
    for rank, fg in enumerate(ranks):
        for k in range(rank, 10, 2):
            fg.update(*pairs[k], image_id=ids[k])
    reduced = ranks[0].reduce(lambda a: ranks[0].per_image + ranks[1].per_image)

    for fg in (merged, reduced):
        np.testing.assert_array_equal(fg.per_image, jp)  # NaN J of noise images kept (NaN + 0)
        assert fg.compute().to_dict() == expected.to_dict()


def test_foreground_jp_refuses_images_of_another_class_or_not_its_own():
    fg = ForegroundJP(("A", "B"), images=["x", "y"], group=[0, 1])
    with pytest.raises(ValueError, match="other image classes"):
        fg.merge(ForegroundJP(("A", "B"), images=["y"], group=[0]))
    with pytest.raises(ValueError, match="'z' is not one of the 2 images"):
        fg.update(np.zeros((2, 2), bool), np.zeros((2, 2), bool), image_id="z")
    with pytest.raises(ValueError, match="class of each of the 2 images"):
        ForegroundJP(("A", "B"), images=["x", "y"], group=[0])
