"""Between-round strategies (a), (b), (c) on hand-made predictions; strategy (b)'s readings of a
prediction; (a) on the round-0 labels; what a refine folder records."""

import cv2
import numpy as np
import pytest

from c2fbench.masks.refine import VOID, RefineConfig, predicted_label, refine_label


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
    plain = RefineConfig(grabcut=False, drop_outside=False)
    label, event = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 8, plain)
    expected = np.zeros_like(pred)
    expected[2:5, 2:5] = 8
    np.testing.assert_array_equal(label, expected)
    kept, _ = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 8,
                           RefineConfig(keep_own_category=False, grabcut=False, drop_outside=False))
    np.testing.assert_array_equal(kept, pred)


@pytest.mark.parametrize("area, event", [(0, "dropped_small"), (1, None), (80, None), (81, "dropped_large")])
def test_a_drops_images_under_1_or_over_80_percent(area, event):
    pred = np.zeros((10, 10), np.uint8)
    pred.flat[:area] = 5
    label, got = refine_label(np.zeros((10, 10, 3), np.uint8), pred, 5, RefineConfig(grabcut=False))
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
    label, event = refine_label(image, pred, 8, RefineConfig(init=init))
    assert iou(label == 8, truth) > max(0.9, iou(pred == 8, truth) + 0.1)


def test_c_mask_init_ignores_a_stray_blob_that_a_box_would_stretch_to():
    rng = np.random.default_rng(4)
    image, truth = scene(rng)
    pred = np.where(truth, 8, 0).astype(np.uint8)
    pred[2:5, 2:5] = 8  # a stray blob in a corner
    label, _ = refine_label(image, pred, 8, RefineConfig(init="mask"))
    assert not (label[2:5, 2:5] == 8).any()
    assert iou(label == 8, truth) > 0.9


def test_argmax_over_all_classes_or_over_background_and_the_label():
    # three pixels: background wins; class 2 wins over the label 1 but 1 beats background; 1 wins
    probs = np.array([[[0.6, 0.2, 0.1]], [[0.3, 0.35, 0.8]], [[0.1, 0.45, 0.1]]])
    assert predicted_label(probs, 1, argmax="all").tolist() == [[0, 2, 1]]
    assert predicted_label(probs, 1, argmax="label").tolist() == [[0, 1, 1]]
    two = np.array([[[0.7, 0.4]], [[0.3, 0.6]]])  # one foreground channel: the same either way
    assert predicted_label(two, 1, argmax="label").tolist() == predicted_label(two, 1).tolist() == [[0, 1]]


def test_the_crf_sees_only_the_classes_the_argmax_chooses_from(monkeypatch):
    import c2fbench.predict as predict

    seen = []

    def fake_crf(rgb, probs):
        seen.append(probs.copy())
        return probs

    monkeypatch.setattr(predict, "crf_refine", fake_crf)
    probs = np.array([[[0.5, 0.2]], [[0.1, 0.5]], [[0.4, 0.3]]])  # classes 0, 1, 2 at two pixels
    rgb = np.zeros((1, 2, 3), np.uint8)
    assert predicted_label(probs, 2, argmax="label", crf_image=rgb).tolist() == [[0, 2]]
    assert np.allclose(seen[-1], [[[5 / 9, 0.4]], [[4 / 9, 0.6]]])  # (background, class 2), renormalised
    assert predicted_label(probs, 2, argmax="all", crf_image=rgb).tolist() == [[0, 1]]
    assert seen[-1].shape == (3, 1, 2)


@pytest.mark.parametrize("previous_void, expected_event", [(False, "kept_previous_small"), (True, "dropped_small")])
def test_a_dropped_image_can_keep_its_previous_mask(tmp_path, previous_void, expected_event):
    from PIL import Image

    from c2fbench.data.imagenet import wnid_to_voc_label
    from c2fbench.data.png import read_label_png, write_label_png
    from c2fbench.masks.refine import RefineJob

    wnid = "n02690373"  # an aeroplane synset
    category = wnid_to_voc_label()[wnid]
    (tmp_path / "images" / wnid).mkdir(parents=True)
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(tmp_path / "images" / wnid / "1.JPEG")
    write_label_png(tmp_path / "pred" / wnid / "1.png", np.zeros((16, 16), np.uint8))  # nothing predicted
    previous = np.full((16, 16), 255 if previous_void else 0, np.uint8)
    if not previous_void:
        previous[4:12, 4:12] = category
    write_label_png(tmp_path / "prev" / wnid / "1.png", previous)
    job = RefineJob(tmp_path / "images", tmp_path / "pred", tmp_path / "out", wnid_to_voc_label(),
                    RefineConfig(grabcut=False), previous=tmp_path / "prev")
    result = job.process(f"{wnid}/1")
    assert result.stat == expected_event
    assert (read_label_png(tmp_path / "out" / wnid / "1.png") == previous).all()
    plain = RefineJob(tmp_path / "images", tmp_path / "pred", tmp_path / "plain", wnid_to_voc_label(),
                      RefineConfig(grabcut=False))
    assert plain.process(f"{wnid}/1").stat == "dropped_small"



@pytest.mark.parametrize("area, event", [(0, "dropped_small"), (1, None), (80, None), (81, "dropped_large")])
def test_a_drops_round_0_labels_by_the_same_rule(tmp_path, area, event):
    from c2fbench.data.png import read_label_png, write_mask_png
    from c2fbench.masks.categories import LabelJob

    mask = np.zeros((10, 10), bool)
    mask.flat[:area] = True
    write_mask_png(tmp_path / "m" / "n1" / "a.png", mask)
    result = LabelJob(tmp_path / "m", tmp_path / "a", None, RefineConfig()).process("n1/a")
    label = read_label_png(tmp_path / "a" / "n1" / "a.png")
    assert result.stat == event
    assert (label == VOID).all() if event else (label == np.where(mask, 1, 0)).all()
    kept = LabelJob(tmp_path / "m", tmp_path / "b", None).process("n1/a")  # `masks labels`: (a) off
    assert kept.stat is None and (read_label_png(tmp_path / "b" / "n1" / "a.png") == np.where(mask, 1, 0)).all()


def test_options_json_records_the_settings_one_key_each_as_before_refine_config(tmp_path):
    """The keys runs made before RefineConfig recorded: such a run still resumes (record.py
    refuses a folder whose recorded options differ)."""
    from c2fbench.masks.categories import LabelJob
    from c2fbench.masks.record import job_options
    from c2fbench.masks.refine import RefineJob

    refine = RefineConfig(min_foreground=0.05, init="rect", iterations=3)
    labels = job_options(LabelJob(tmp_path / "m", tmp_path / "out", None, refine), tmp_path / "out")
    assert {k: v for k, v in labels.items() if k != "masks"} == {
        "job": "masks labels", "wnid_labels": None, "drop_outside": True, "min_foreground": 0.05,
        "max_foreground": 0.8}
    plain = job_options(LabelJob(tmp_path / "m", tmp_path / "out", None), tmp_path / "out")
    assert (plain["drop_outside"], plain["min_foreground"], plain["max_foreground"]) == (False, 0.01, 0.8)
    job = RefineJob(tmp_path / "i", tmp_path / "p", tmp_path / "out", None, refine, seed=4, previous=None)
    recorded = job_options(job, tmp_path / "out")
    assert {k: v for k, v in recorded.items() if k not in ("images", "predictions")} == {
        "job": "refine masks", "wnid_labels": None, "keep_own_category": True, "grabcut": True, "init": "rect",
        "iterations": 3, "seed": 4, "drop_outside": True, "min_foreground": 0.05, "max_foreground": 0.8,
        "previous": None}
