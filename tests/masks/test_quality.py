"""Mask quality scores against a hand-computed case."""

import numpy as np
import pytest

from c2fbench.data.png import write_mask_png
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


@pytest.mark.parametrize("kind", ["empty", "fifo", "jpeg-only"])
def test_score_cli_names_an_unreadable_mask_in_one_line(tmp_path, kind):
    import os

    from click.testing import CliRunner

    from c2fbench.cli.main import cli

    write_mask_png(tmp_path / "t" / "w" / "a.png", np.ones((2, 2), bool))
    (tmp_path / "m" / "w").mkdir(parents=True)
    bad = tmp_path / "m" / "w" / ("a.jpg" if kind == "jpeg-only" else "a.png")
    os.mkfifo(bad) if kind == "fifo" else bad.write_bytes(b"")
    result = CliRunner().invoke(cli, ["masks", "score", "--masks", str(tmp_path / "m"), "--truth", str(tmp_path / "t")])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'm' / 'w' / 'a.png'}"), line


def test_score_cli_with_only_void_label_maps_says_so(tmp_path):
    from click.testing import CliRunner

    from c2fbench.cli.main import cli
    from c2fbench.data.png import write_label_png

    write_label_png(tmp_path / "m" / "w" / "a.png", np.full((2, 2), 255, np.uint8))
    write_mask_png(tmp_path / "t" / "w" / "a.png", np.ones((2, 2), bool))
    result = CliRunner().invoke(cli, ["masks", "score", "--masks", str(tmp_path / "m"), "--truth", str(tmp_path / "t")])
    assert result.exit_code == 2 and "no mask to score" in result.output, result.output
