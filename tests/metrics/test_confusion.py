"""The streaming confusion matrix against scikit-learn's confusion_matrix: update, merge of
worker chunks, reduction over ranks, per-image matrices kept by id."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import confusion_matrix

from c2fbench.errors import InputError
from c2fbench.metrics import ConfusionMatrix, image_confusion


def oracle(pairs, num_classes):
    gt = np.concatenate([g.ravel() for g, _ in pairs])
    pred = np.concatenate([p.ravel() for _, p in pairs])
    keep = gt != 255
    if not keep.any():  # scikit-learn refuses empty input; nothing is counted
        return np.zeros((num_classes, num_classes), np.int64)
    return confusion_matrix(gt[keep], pred[keep], labels=list(range(num_classes)))


def random_pair(rng, num_classes, shape):
    gt = rng.integers(0, num_classes, size=shape).astype(np.uint8)
    gt[rng.random(shape) < 0.15] = 255
    pred = rng.integers(0, num_classes, size=shape).astype(np.uint8)
    return gt, pred


def test_accumulated_matrix_matches_sklearn_on_random_maps_with_void():
    rng = np.random.default_rng()
    pairs = [random_pair(rng, 21, (int(rng.integers(5, 60)), int(rng.integers(5, 60)))) for _ in range(12)]
    cm = ConfusionMatrix(num_classes=21)
    for gt, pred in pairs:
        cm.update(gt, pred)
    np.testing.assert_array_equal(cm.matrix, oracle(pairs, 21))


def blocky_pair(rng, num_classes, shape):
    """Label-map-like pairs: constant blocks, so the run-length path is taken."""
    small = rng.integers(0, num_classes, size=(shape[0] // 8 + 1, shape[1] // 16 + 1))
    gt = np.kron(small, np.ones((8, 16), np.int64))[: shape[0], : shape[1]].astype(np.uint8)
    gt[:, ::37] = 255
    pred = gt.copy()
    pred[pred == 255] = 0
    pred[rng.integers(0, shape[0]), :] = rng.integers(0, num_classes)
    return gt, pred


def test_blocky_label_maps_match_sklearn():
    rng = np.random.default_rng()
    pairs = [blocky_pair(rng, 21, (int(rng.integers(20, 90)), int(rng.integers(40, 130)))) for _ in range(8)]
    cm = ConfusionMatrix(num_classes=21)
    for gt, pred in pairs:
        cm.update(gt, pred)
    np.testing.assert_array_equal(cm.matrix, oracle(pairs, 21))


def test_strided_views_are_counted_correctly():
    rng = np.random.default_rng()
    gt, pred = blocky_pair(rng, 21, (64, 96))
    np.testing.assert_array_equal(image_confusion(gt[:, 1:], pred[:, 1:], 21), oracle([(gt[:, 1:], pred[:, 1:])], 21))
    np.testing.assert_array_equal(image_confusion(gt[::2, ::3], pred[::2, ::3], 21),
                                  oracle([(gt[::2, ::3], pred[::2, ::3])], 21))


@pytest.mark.parametrize("make", [random_pair, blocky_pair])
def test_out_of_range_values_are_caught_on_both_paths(make):
    rng = np.random.default_rng()
    gt, pred = make(rng, 21, (40, 80))
    pred = pred.copy()
    pred[5, 7] = 22
    with pytest.raises(InputError, match="value 22"):
        image_confusion(gt, pred, 21)
    gt = gt.copy()
    gt[3, 3] = 100
    with pytest.raises(InputError, match="value 100|value 22"):
        image_confusion(gt, pred, 21)


def test_wide_dtypes_take_the_same_counts():
    rng = np.random.default_rng()
    gt, pred = random_pair(rng, 21, (33, 47))
    narrow = image_confusion(gt, pred, 21)
    wide = image_confusion(gt.astype(np.int64), pred.astype(np.int32), 21)
    np.testing.assert_array_equal(narrow, wide)
    np.testing.assert_array_equal(narrow, oracle([(gt, pred)], 21))


def test_merge_equals_one_accumulator_over_all_images():
    rng = np.random.default_rng()
    pairs = [random_pair(rng, 5, (17, 23)) for _ in range(6)]
    left, right, whole = (ConfusionMatrix(num_classes=5) for _ in range(3))
    for k, (gt, pred) in enumerate(pairs):
        (left if k % 2 else right).update(gt, pred)
        whole.update(gt, pred)
    np.testing.assert_array_equal(left.merge(right).matrix, whole.matrix)


def test_per_image_matrices_are_kept_by_id_and_merged_from_chunks_in_any_order():
    """Chunk accumulators (one per worker chunk) merged in a shuffled order give the one
    accumulator's matrix and, row by row, each image's own matrix (the sklearn oracle)."""
    rng = np.random.default_rng()
    pairs = [random_pair(rng, 4, (int(rng.integers(5, 30)), int(rng.integers(5, 30)))) for _ in range(11)]
    ids = [f"img{k}" for k in range(len(pairs))]
    whole = ConfusionMatrix(num_classes=4, images=ids)
    chunks = [range(0, 4), range(4, 8), range(8, 11)]
    for chunk in rng.permutation(len(chunks)):
        part = ConfusionMatrix(num_classes=4, images=[ids[k] for k in chunks[chunk]])
        for k in chunks[chunk]:
            part.update(*pairs[k], image_id=ids[k])
        whole.merge(part)
    np.testing.assert_array_equal(whole.matrix, oracle(pairs, 4))
    for k, pair in enumerate(pairs):
        np.testing.assert_array_equal(whole.per_image[k], oracle([pair], 4))


def test_reduce_over_ranks_equals_one_process():
    """Each simulated rank scores every world-th image; reduce_sum sums the ranks' arrays as
    an all_reduce would. With kept images and without, the result is one process's."""
    rng = np.random.default_rng()
    pairs = [random_pair(rng, 6, (12, 9)) for _ in range(7)]
    ids = [str(k) for k in range(len(pairs))]
    one = ConfusionMatrix(num_classes=6, images=ids)
    for k, pair in enumerate(pairs):
        one.update(*pair, image_id=ids[k])
    for images in (ids, ()):
        ranks = [ConfusionMatrix(num_classes=6, images=images) for _ in range(3)]
        for rank, cm in enumerate(ranks):
            for k in range(rank, len(pairs), 3):
                cm.update(*pairs[k], image_id=ids[k])
        sent, rank_arrays = [], iter([[cm.matrix for cm in ranks], [cm.per_image for cm in ranks]])

        def all_reduce(array):
            sent.append(array.shape)
            return np.sum(next(rank_arrays), axis=0)

        reduced = ranks[0].reduce(all_reduce)
        np.testing.assert_array_equal(reduced.matrix, one.matrix)
        if images:
            np.testing.assert_array_equal(reduced.per_image, one.per_image)
        assert sent == ([(6, 6), (7, 6, 6)] if images else [(6, 6)])  # only kept arrays travel


def test_kept_images_are_named_listed_once_and_merged_only_with_their_matrices():
    cm = ConfusionMatrix(num_classes=2, images=["a", "b"])
    zeros = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="'c' is not one of the 2 images"):
        cm.update(zeros, zeros, image_id="c")
    assert cm.matrix.sum() == 0  # refused before counting
    counted = ConfusionMatrix(num_classes=2)
    counted.update(zeros, zeros)
    with pytest.raises(ValueError, match="without its per-image matrices"):
        cm.merge(counted)
    assert ConfusionMatrix(num_classes=2).merge(counted).matrix.sum() == 4  # the matrix alone merges
    with pytest.raises(InputError, match="b: image listed twice"):
        ConfusionMatrix(num_classes=2, images=["a", "b", "b"])


def test_all_void_image_adds_nothing():
    cm = ConfusionMatrix(num_classes=3)
    m = cm.update(np.full((4, 4), 255, np.uint8), np.zeros((4, 4), np.uint8))
    assert m.sum() == 0 and cm.matrix.sum() == 0


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_prediction_outside_class_range_is_an_error_naming_the_image(dtype):
    gt = np.zeros((3, 3), np.uint8)
    pred = np.zeros((3, 3), dtype)
    pred[1, 1] = 21
    with pytest.raises(InputError, match=r"img7: prediction holds value 21, outside the class range 0\.\.20"):
        image_confusion(gt, pred, 21, image_id="img7")


def test_prediction_of_255_on_a_void_pixel_is_still_an_error():
    # The devkit rejects any prediction above the class range, wherever it lies.
    gt = np.full((2, 2), 255, np.uint8)
    pred = np.full((2, 2), 255, np.uint8)
    with pytest.raises(InputError, match="255"):
        image_confusion(gt, pred, 21)


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_ground_truth_value_that_is_neither_class_nor_void_is_an_error(dtype):
    gt = np.array([[0, 40]], dtype)
    with pytest.raises(InputError, match="ground truth holds value 40"):
        image_confusion(gt, np.zeros_like(gt), 21)


def test_negative_prediction_in_a_wide_map_is_an_error():
    with pytest.raises(InputError, match="value -1"):
        image_confusion(np.zeros((2, 2), np.int64), np.full((2, 2), -1), 21)


def test_shape_mismatch_is_an_error():
    with pytest.raises(InputError, match="x.*but the ground truth"):
        image_confusion(np.zeros((3, 4), np.uint8), np.zeros((4, 3), np.uint8), 21)


@settings(max_examples=60, deadline=None)
@given(
    num_classes=st.integers(min_value=1, max_value=8),
    data=st.data(),
)
def test_property_matches_sklearn_and_counts_every_non_void_pixel(num_classes, data):
    shape = data.draw(st.tuples(st.integers(1, 12), st.integers(1, 12)))
    gt = data.draw(arrays(np.uint8, shape, elements=st.sampled_from(list(range(num_classes)) + [255])))
    pred = data.draw(arrays(np.uint8, shape, elements=st.integers(0, num_classes - 1)))
    m = image_confusion(gt, pred, num_classes)
    np.testing.assert_array_equal(m, oracle([(gt, pred)], num_classes))
    assert m.sum() == np.count_nonzero(gt != 255)
