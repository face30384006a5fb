"""Mask quality scores against a hand-computed case."""

import numpy as np
import pytest

from c2fbench.data.labels import write_mask_png
from c2fbench.errors import InputError
from c2fbench.masks.quality import score_masks


def test_mean_and_dataset_iou_by_hand(tmp_path):
    a_mask, a_gt = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a_mask[:2] = True  # 8 px
    a_gt[:1] = True  # 4 px, inside: IoU 4/8
    b_mask, b_gt = np.zeros((2, 2), bool), np.ones((2, 2), bool)  # IoU 0/4, empty mask
    for name, mask, gt in (("a", a_mask, a_gt), ("b", b_mask, b_gt)):
        write_mask_png(tmp_path / "m" / "w" / f"{name}.png", mask)
        write_mask_png(tmp_path / "t" / "w" / f"{name}.png", gt)
    result = score_masks(tmp_path / "m", tmp_path / "t")
    assert result["mean_iou"] == pytest.approx(25.0)
    assert result["dataset_iou"] == pytest.approx(100 * 4 / 12)
    assert result["empty_masks"] == 1 and result["num_images"] == 2


def test_size_mismatch_names_the_mask(tmp_path):
    write_mask_png(tmp_path / "m" / "x.png", np.zeros((3, 3), bool))
    write_mask_png(tmp_path / "t" / "x.png", np.zeros((4, 3), bool))
    with pytest.raises(InputError, match="x.png"):
        score_masks(tmp_path / "m", tmp_path / "t")
