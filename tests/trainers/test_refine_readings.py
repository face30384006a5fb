"""Readings of strategy (b), prediction resolution, Table I's boxes, own-category scoring, threads."""

import numpy as np
import pytest

from c2fbench.masks.boxes import filled_box
from trainers.refine import predicted_label


def test_argmax_over_all_classes_or_over_background_and_the_label():
    # three pixels: background wins; class 2 wins over the label 1 but 1 beats background; 1 wins
    probs = np.array([[[0.6, 0.2, 0.1]], [[0.3, 0.35, 0.8]], [[0.1, 0.45, 0.1]]])
    assert predicted_label(probs, 1, argmax="all").tolist() == [[0, 2, 1]]
    assert predicted_label(probs, 1, argmax="label").tolist() == [[0, 1, 1]]
    two = np.array([[[0.7, 0.4]], [[0.3, 0.6]]])  # one foreground channel: the same either way
    assert predicted_label(two, 1, argmax="label").tolist() == predicted_label(two, 1).tolist() == [[0, 1]]


def test_filled_box_of_a_mask():
    mask = np.zeros((6, 7), bool)
    mask[1, 2] = mask[4, 5] = True
    expected = np.zeros((6, 7), bool)
    expected[1:5, 2:6] = True
    assert (filled_box(mask) == expected).all()
    assert not filled_box(np.zeros((3, 3), bool)).any()


def test_prediction_at_another_size_comes_back_at_the_image_size():
    from c2fbench.inference import predict_probs

    class Runtime:  # logits that copy the red channel: the resize path is visible in the output
        def logits(self, rgb):
            red = rgb[..., 0].astype(np.float32)
            return np.stack([np.zeros_like(red), red / 10])

    rgb = np.zeros((30, 50, 3), np.uint8)
    rgb[:, 25:] = 255
    probs = predict_probs(Runtime(), rgb, size=(20, 20))
    assert probs.shape == (2, 30, 50)
    assert probs[1, :, :20].max() < 0.6 and probs[1, :, 30:].min() > 0.99
    assert np.allclose(predict_probs(Runtime(), rgb, size=(50, 30)), predict_probs(Runtime(), rgb))


def test_own_category_scoring(tmp_path):
    from c2fbench.data.labels import write_label_png, write_mask_png
    from c2fbench.masks.quality import score_masks

    label = np.zeros((4, 4), np.uint8)
    label[:2, :2], label[2:, 2:] = 3, 5  # class 3 on one quarter, class 5 on another
    write_label_png(tmp_path / "m" / "a.png", label)
    truth = np.zeros((4, 4), bool)
    truth[:2, :] = True  # the top half
    write_mask_png(tmp_path / "t" / "a.png", truth)
    assert score_masks(tmp_path / "m", tmp_path / "t", ["a"])["mean_iou"] == pytest.approx(100 * 4 / 12)
    assert score_masks(tmp_path / "m", tmp_path / "t", ["a"], categories={"a": 3})["mean_iou"] == pytest.approx(50)
    assert score_masks(tmp_path / "m", tmp_path / "t", ["a"], categories={"a": 5})["mean_iou"] == 0


@pytest.mark.parametrize("load, expected", [(0.0, 2), (0.6, 1), (1.2, 1), (5.0, 1)])
def test_default_threads_leave_busy_cores_alone(monkeypatch, load, expected):
    import c2fbench.threads as threads

    monkeypatch.setattr(threads, "default_workers", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert threads.default_threads() == expected


def test_dense_crf_on_a_read_only_image_follows_the_edge():
    pytest.importorskip("pydensecrf.densecrf", reason="needs the extra c2fbench[crf] (pydensecrf2)")
    from c2fbench.inference import crf_refine

    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = 255
    rgb.setflags(write=False)  # images from read_rgb may be read-only
    probs = np.full((2, 20, 30), 0.4, np.float32)
    probs[1, :, 12:] = 0.6  # the foreground evidence starts 3 pixels left of the dark/bright edge
    probs[0] = 1 - probs[1]
    out = crf_refine(rgb, probs)
    assert np.allclose(out.sum(axis=0), 1, atol=1e-4)
    label = out.argmax(axis=0)
    assert (label[:, 15:] == 1).all() and (label[:, :15] == 0).all()  # the CRF moved it to the edge
