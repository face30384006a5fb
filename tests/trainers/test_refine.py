"""Between-round strategies (a), (b), (c) on hand-made predictions."""

import cv2
import numpy as np
import pytest

from trainers.refine import VOID, refine_label


def scene(rng):
    """A blue square (the object, class 8) on a noisy green background, 80x100."""
    image = np.clip(np.array([60, 140, 70]) + rng.normal(0, 6, (80, 100, 3)), 0, 255).astype(np.uint8)
    truth = np.zeros((80, 100), bool)
    truth[20:60, 30:75] = True
    image[truth] = np.clip(np.array([40, 60, 200]) + rng.normal(0, 6, (int(truth.sum()), 3)), 0, 255)
    return image, truth


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_b_keeps_only_the_image_category():
    pred = np.zeros((10, 10), np.uint8)
    pred[2:5, 2:5] = 8
    pred[6:9, 6:9] = 3
    label, event = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 8, grabcut=False, drop_outside=False)
    expected = np.zeros_like(pred)
    expected[2:5, 2:5] = 8
    np.testing.assert_array_equal(label, expected)
    kept, _ = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 8, keep_own_category=False, grabcut=False,
                           drop_outside=False)
    np.testing.assert_array_equal(kept, pred)


@pytest.mark.parametrize("area, event", [(0, "dropped_small"), (1, None), (80, None), (81, "dropped_large")])
def test_a_drops_images_under_1_or_over_80_percent(area, event):
    pred = np.zeros((10, 10), np.uint8)
    pred.flat[:area] = 5
    label, got = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 5, grabcut=False)
    assert got == event
    if event:
        assert (label == VOID).all()
    else:
        assert (label == 5).sum() == area


@pytest.mark.parametrize("init", ["mask", "rect"])
def test_c_grabcut_repairs_a_ragged_prediction(init):
    rng = np.random.default_rng()
    image, truth = scene(rng)
    pred = np.where(truth, 8, 0).astype(np.uint8)
    pred[cv2.erode(truth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0] = 0  # a hollow ring...
    pred[20:60, 30:75][rng.random((40, 45)) < 0.5] = 8  # ... half filled at random
    label, event = refine_label(image, pred, 8, init=init)
    assert iou(label == 8, truth) > max(0.9, iou(pred == 8, truth) + 0.1)


def test_c_mask_init_ignores_a_stray_blob_that_a_box_would_stretch_to():
    rng = np.random.default_rng(4)
    image, truth = scene(rng)
    pred = np.where(truth, 8, 0).astype(np.uint8)
    pred[2:5, 2:5] = 8  # a stray blob in a corner
    label, _ = refine_label(image, pred, 8, init="mask")
    assert not (label[2:5, 2:5] == 8).any()
    assert iou(label == 8, truth) > 0.9
