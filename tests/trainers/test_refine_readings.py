"""Prediction resolution, Table I's boxes, own-category scoring, branches, the dense CRF (threads:
tests/test_numerics.py)."""


import numpy as np
import pytest

from c2fbench.masks.boxes import filled_box


def test_filled_box_of_a_mask():
    mask = np.zeros((6, 7), bool)
    mask[1, 2] = mask[4, 5] = True
    expected = np.zeros((6, 7), bool)
    expected[1:5, 2:6] = True
    assert (filled_box(mask) == expected).all()
    assert not filled_box(np.zeros((3, 3), bool)).any()


def test_robust_box_ignores_a_stray_pixel_that_stretches_the_tight_box():
    # a 10x10 object at rows 20-29, columns 30-39 of a 60x80 image, and one stray pixel
    mask = np.zeros((60, 80), bool)
    mask[20:30, 30:40] = True
    mask[59, 0] = True
    tight, robust = filled_box(mask, "tight"), filled_box(mask, "robust")
    assert tight.sum() == 40 * 40  # rows 20-59, columns 0-39
    # 101 foreground rows: numpy's 5th and 95th percentiles of the row coordinates are 20
    # and 29 (the stray row 59 is the top 1%), so the box is the object's own
    expected = np.zeros_like(mask)
    expected[20:30, 30:40] = True
    assert (robust == expected).all()
    assert not filled_box(np.zeros((3, 3), bool), "robust").any()
    with pytest.raises(ValueError, match="box must be one of"):
        filled_box(mask, "loose")


def test_prediction_at_another_size_comes_back_at_the_image_size():
    from c2fbench.predict import predict_probs

    class Runtime:  # logits that copy the red channel: the resize path is visible in the output
        classes = ["background", "object"]

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
    from c2fbench.data.png import write_label_png, write_mask_png
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


def test_dense_crf_on_a_read_only_image_follows_the_edge():
    pytest.importorskip("pydensecrf.densecrf", reason="needs the extra c2fbench[crf] (pydensecrf2)")
    from c2fbench.predict import crf_refine

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


def _save_small_model(path):
    """A real checkpoint of a one-layer model (the branch checks round-01/model.pt reads)."""
    import torch

    from c2fbench.data.voc import VOC_CLASSES
    from c2fbench.models.checkpoint import save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, torch.nn.Conv2d(3, 21, 1), arch="deeplab_v2_mobilenet_small", kwargs={"num_classes": 21},
                    classes=list(VOC_CLASSES))


@pytest.mark.parametrize("change, copies_predictions", [({"refine_grabcut": False}, True),
                                                         ({"refine_crf": True}, False),
                                                         ({"refine_tta": True}, False),
                                                         ({"refine_argmax": "label"}, False),
                                                         ({"refine_predict_at": "train"}, False)])
def test_a_branch_predicts_again_when_the_predictions_would_differ(tmp_path, change, copies_predictions):
    from trainers.branch import branch_after_round_one
    from trainers.config import TrainConfig

    source = tmp_path / "source"
    for part in ("predictions/round-01/n1/a.png", "masks/round-00/n1/a.png"):
        (source / part).parent.mkdir(parents=True, exist_ok=True)
        (source / part).write_bytes(b"x")
    _save_small_model(source / "round-01" / "model.pt")  # the branch reads its header
    (source / "config.json").write_text(TrainConfig().to_json())
    cfg = branch_after_round_one(source, tmp_path / "branch", **change)
    assert all(cfg.to_flat()[k] == v for k, v in change.items())
    assert (tmp_path / "branch" / "predictions/round-01/n1/a.png").exists() == copies_predictions
    assert (tmp_path / "branch" / "round-01/model.pt").exists() and (tmp_path / "branch" / "masks/round-00").is_dir()
