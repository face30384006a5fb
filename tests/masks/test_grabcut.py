"""GrabCut enhancement: a clear object is recovered, and every degenerate case falls back
as documented."""

import cv2
import numpy as np
import pytest

from c2fbench.masks.grabcut import bounding_box, enhance, mask_init_trimap, robust_box


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def clear_object_scene(rng, h=120, w=160):
    """A red ellipse on a noisy grey-green background: an easy case for GrabCut."""
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (70, 110, 80)
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((h, w), np.uint8)
    cv2.ellipse(truth, (w // 2, h // 2), (45, 30), 20, 0, 360, 1, -1)
    image[truth > 0] = np.clip(np.array([200, 40, 40]) + rng.normal(0, 8, (int(truth.sum()), 3)), 0, 255)
    return image, truth.astype(bool)


@pytest.mark.parametrize("init", ["rect", "mask"])
def test_a_clear_object_is_recovered_from_a_sloppy_coarse_mask(init):
    rng = np.random.default_rng()
    image, truth = clear_object_scene(rng)
    coarse = cv2.dilate(truth.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    coarse[rng.random(coarse.shape) < 0.3] = False  # holes, as in real coarse masks
    result = enhance(image, coarse, init=init)
    assert result.fallback is None
    assert iou(coarse, truth) < 0.75
    assert iou(result.mask, truth) > 0.9


def test_half_scale_stays_close_on_a_clear_object():
    image, truth = clear_object_scene(np.random.default_rng(), 240, 320)
    coarse = cv2.dilate(truth.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool)
    full, half = enhance(image, coarse), enhance(image, coarse, scale=0.5)
    assert iou(full.mask, half.mask) > 0.95


def test_same_seed_same_mask_regardless_of_what_ran_before():
    image, truth = clear_object_scene(np.random.default_rng(5))
    coarse = cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    first = enhance(image, coarse, seed=11).mask
    cv2.setRNGSeed(999)
    enhance(image, coarse, seed=3)  # disturbs OpenCV's global generator
    assert np.array_equal(enhance(image, coarse, seed=11).mask, first)


def test_bounding_boxes_by_hand():
    mask = np.zeros((40, 50), bool)
    mask[2:12, 3:13] = True
    assert bounding_box(mask) == (3, 2, 10, 10)
    assert bounding_box(np.zeros((4, 4), bool)) is None
    mask[39, 49] = True  # one stray pixel stretches the tight box, not the robust one
    assert bounding_box(mask) == (3, 2, 47, 38)
    x, y, w, h = robust_box(mask, percentile=5)
    assert (x, y) == (3, 2) and w <= 11 and h <= 11


def test_mask_init_trimap_labels():
    coarse = np.zeros((20, 20), bool)
    coarse[5:10, 5:10] = True
    trimap = mask_init_trimap(coarse, (5, 5, 5, 5))
    assert (trimap[coarse] == cv2.GC_PR_FGD).all()
    assert trimap[4, 4] == cv2.GC_PR_BGD and trimap[0, 0] == cv2.GC_BGD


def test_empty_coarse_mask_falls_back_to_empty():
    image = np.zeros((30, 30, 3), np.uint8)
    result = enhance(image, np.zeros((30, 30), bool))
    assert result.fallback == "empty_coarse" and not result.mask.any()


def test_a_box_of_a_few_pixels_keeps_the_coarse_mask():
    image, _ = clear_object_scene(np.random.default_rng(1))
    coarse = np.zeros(image.shape[:2], bool)
    coarse[10:13, 10:13] = True
    result = enhance(image, coarse)
    assert result.fallback == "tiny_box" and np.array_equal(result.mask, coarse)


def test_a_box_covering_the_whole_image_is_shrunk_and_grabcut_runs():
    image, truth = clear_object_scene(np.random.default_rng(2))
    coarse = truth.copy()
    coarse[0, 0] = coarse[-1, -1] = True  # stray corners: the tight box is the whole image
    result = enhance(image, coarse)
    assert result.fallback == "full_box"
    assert iou(result.mask, truth) > 0.8


def test_grabcut_assertion_falls_back_to_the_coarse_mask():
    # With mask init and a coarse mask covering everything, GrabCut has no background samples.
    image = np.random.default_rng(3).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    coarse = np.ones((40, 40), bool)
    result = enhance(image, coarse, init="mask")
    assert result.fallback in {"grabcut_error", "full_result"}
    assert np.array_equal(result.mask, coarse)


def test_an_empty_result_falls_back_to_the_coarse_mask():
    # A uniform image: GrabCut finds no foreground colour distinct from the background.
    image = np.full((60, 60, 3), 128, np.uint8)
    coarse = np.zeros((60, 60), bool)
    coarse[20:40, 20:40] = True
    result = enhance(image, coarse)
    assert result.fallback in {"empty_result", "grabcut_error"}
    assert np.array_equal(result.mask, coarse)
