"""Per-image ranking (c2fbench.eval.worst) against hand-computed cases and scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, jaccard_score

from c2fbench.eval.show import overlay_name
from c2fbench.eval.worst import (semantic_scores, worst_csv, worst_foreground, worst_semantic,
                                  worst_semantic_cells)

CLASSES = ("bg", "cat", "dog")


def hand_made():
    """Six images of 3 classes, rows ground truth; their scores by hand in the comments."""
    return ["a", "b", "c", "d", "e", "f"], np.array([
        [[5, 0, 0], [0, 5, 0], [0, 0, 0]],  # a: bg 1, cat 1 -> 100
        [[4, 1, 0], [0, 0, 0], [0, 0, 0]],  # b: bg 4/5, cat 0/1 -> 40, acc 80
        [[0, 0, 0], [0, 2, 2], [0, 0, 0]],  # c: cat 2/4, dog 0/2 -> 25, acc 50
        [[0, 0, 0], [0, 0, 0], [0, 0, 0]],  # d: nothing scored (all void) -> NaN, last
        [[0, 0, 0], [0, 4, 1], [0, 0, 0]],  # e: cat 4/5, dog 0/1 -> 40, acc 80: ties b, after it by id
        [[1, 0, 0], [0, 0, 0], [2, 0, 0]],  # f: bg 1/3, dog 0/2 -> 16.67, acc 33.3
    ])


def test_scores_by_hand():
    _, m = hand_made()
    miou, acc = semantic_scores(m)
    np.testing.assert_allclose(miou, [100, 40, 25, np.nan, 40, 50 / 3], equal_nan=True)
    np.testing.assert_allclose(acc, [100, 80, 50, np.nan, 80, 100 / 3], equal_nan=True)


def test_ranking_by_hand_with_ties_and_unscored_images_last():
    ids, m = hand_made()
    ranked = worst_semantic(ids, m, CLASSES)
    assert [r.id for r in ranked] == ["f", "c", "b", "e", "a", "d"]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5, 6]
    f, c, b = ranked[:3]
    assert f.missed == ("dog",) and f.extra == () and f.confused == (("dog", "bg", pytest.approx(200 / 3)),)
    assert c.missed == () and c.extra == ("dog",) and c.confused == (("cat", "dog", 50.0),)
    assert b.extra == ("cat",) and b.differences() == "extra cat; confused bg→cat 20%"
    assert ranked[4].differences() == "" and math.isnan(ranked[5].score)
    assert [r.id for r in worst_semantic(ids, m, CLASSES, 2)] == ["f", "c"]


def test_order_does_not_depend_on_the_order_of_images():
    ids, m = hand_made()
    perm = np.random.default_rng().permutation(len(ids))
    assert [r.id for r in worst_semantic([ids[i] for i in perm], m[perm], CLASSES)] == ["f", "c", "b", "e", "a", "d"]


def test_image_miou_matches_scikit_learn_on_random_maps():
    rng = np.random.default_rng()
    c, matrices, expected = 5, [], []
    for _ in range(8):
        gt = rng.integers(0, c, (12, 9))
        pred = np.where(rng.random(gt.shape) < 0.4, rng.integers(0, c, gt.shape), gt)
        gt[rng.random(gt.shape) < 0.1] = 255
        keep = gt != 255
        matrices.append(confusion_matrix(gt[keep], pred[keep], labels=list(range(c))))
        present = sorted(set(gt[keep].tolist()) | set(pred[keep].tolist()))
        expected.append(100 * jaccard_score(gt[keep], pred[keep], labels=present, average="macro"))
    np.testing.assert_allclose(semantic_scores(np.array(matrices))[0], expected)


def test_foreground_by_j_then_p_and_no_object_last():
    ranked = worst_foreground(["x", "y", "z", "w"], np.array([0.5, np.nan, 0.5, 0.1]), np.array([0.9, 0.2, 0.7, 0.95]))
    assert [r.id for r in ranked] == ["w", "z", "x", "y"]
    assert ranked[0].score == pytest.approx(10) and ranked[0].accuracy == pytest.approx(95)


def test_worst_csv_semantic_and_foreground():
    ids, m = hand_made()
    lines = worst_csv(worst_semantic(ids, m, CLASSES, 2), "semantic").splitlines()
    assert lines == ["rank,id,mIoU,pixel acc,missed,extra,confused", "1,f,16.6667,33.3333,dog,,dog>bg:66.67",
                     "2,c,25.0000,50.0000,,dog,cat>dog:50.00"]
    text = worst_csv(worst_foreground(["A/1", "A/2"], np.array([np.nan, 0.25]), np.array([0.5, 0.75])), "foreground")
    assert text.splitlines() == ["rank,id,J,P", "1,A/2,25.0000,75.0000", "2,A/1,,50.0000"]


@pytest.mark.parametrize("rank, image_id, total, name", [
    (1, "2007_000033", 5, "1_2007_000033.png"), (3, "Airplane100/0001", 250, "003_Airplane100_0001.png"),
    (12, "../etc/x y", 20, "12_.._etc_x_y.png")])
def test_overlay_names_are_flat_and_sort_by_rank(rank, image_id, total, name):
    assert overlay_name(rank, image_id, total) == name


def test_nonzero_cells_rank_like_dense_matrices():
    """COCO-sized results keep each image's nonzero cells, a cell possibly split in two."""
    rng = np.random.default_rng()
    m = rng.integers(0, 4, (7, 4, 4)) * (rng.random((7, 4, 4)) < 0.4)
    image, gt, pred = np.nonzero(m)
    first = rng.integers(0, m[image, gt, pred] + 1)
    split = [np.concatenate([a, a]) for a in (image, gt, pred)]
    count = np.concatenate([first, m[image, gt, pred] - first])
    ids = [f"i{k}" for k in range(7)]
    classes = ("bg", "a", "b", "c")
    assert worst_semantic_cells(ids, *split, count, classes) == worst_semantic(ids, m, classes)


def test_docstring_examples():
    import doctest

    import c2fbench.eval.show
    import c2fbench.eval.worst

    for module in (c2fbench.eval.worst, c2fbench.eval.show):
        assert doctest.testmod(module).failed == 0


def test_confused_pairs_that_round_to_zero_percent_are_left_out_of_the_line_not_the_csv():
    """Issue 28: the line read "confused ... bg→cat 0%". By hand: 1,000 scored pixels, cat
    taken for dog on 30 (3%), dog for bg on 6 (0.6%, shown 1%), bg for cat on 4 (0.4%, shown
    0%: left out); a second image whose only confusion is 0.4% names no confused pair."""
    m = np.array([[[496, 4, 0], [0, 270, 30], [6, 0, 194]],
                  [[996, 4, 0], [0, 0, 0], [0, 0, 0]]])
    one, two = sorted(worst_semantic(["one", "two"], m, CLASSES), key=lambda r: r.id)
    assert one.differences() == "confused cat→dog 3%, dog→bg 1%"
    assert two.differences() == "extra cat"
    lines = worst_csv([one, two], "semantic").splitlines()
    assert lines[1].endswith(",cat>dog:3.00;dog>bg:0.60;bg>cat:0.40") and lines[2].endswith(",cat,bg>cat:0.40")
