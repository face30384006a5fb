"""The training dataset's augmentation: the paper's fixed resize and crop, and DeepLab v2's
random scaling, checked against OpenCV resizes of the same files (the oracle)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from c2fbench.data.png import write_label_png
from c2fbench.errors import InputError
from trainers.data import MaskDataset
from trainers.preflight import TrainImage
from trainers.resolve import resolve_config

NORM = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.fixture
def one_image(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    label = np.zeros((40, 40), np.uint8)
    label[5:30, 8:25] = 3
    label[30:, :] = 255
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    write_label_png(tmp_path / "labels" / "a.png", label)
    return [TrainImage("a", tmp_path / "a.png")], tmp_path / "labels", rgb, label


def _windows(full: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Offsets (y, x) at which a size x size window of ``full`` could have been cropped."""
    return [(y, x) for y in range(full.shape[0] - size + 1) for x in range(full.shape[1] - size + 1)]


def test_fixed_resize_then_crop_is_a_window_of_the_resized_label(one_image):
    samples, labels, _, label = one_image
    data = MaskDataset(samples, labels, resize=32, crop=24, flip=False, normalization=NORM, seed=0)
    resized = cv2.resize(label, (32, 32), interpolation=cv2.INTER_NEAREST)
    offsets = set()
    for epoch in range(6):
        data.set_epoch(1, epoch)
        _, crop = data[0]
        hits = [(y, x) for y, x in _windows(resized, 24) if np.array_equal(resized[y:y + 24, x:x + 24], crop.numpy())]
        assert hits, "the crop is not a window of the resized label"
        offsets.add(hits[0])
    assert len(offsets) > 1  # the crop moves between epochs


def test_scaling_below_the_crop_pads_with_void_and_the_mean_colour(one_image):
    samples, labels, _, label = one_image
    data = MaskDataset(samples, labels, resize=32, crop=32, flip=False, normalization=NORM, seed=0,
                       scale=(0.5, 0.5))
    image, crop = data[0]
    expected = np.full((32, 32), 255, np.uint8)
    expected[:16, :16] = cv2.resize(label, (16, 16), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(crop.numpy(), expected)
    assert image.shape == (3, 32, 32)
    assert image[:, 16:, :].abs().max() < 0.01 and image[:, :, 16:].abs().max() < 0.01  # the mean, normalised


def test_scaling_above_one_crops_from_the_enlarged_image(one_image):
    samples, labels, _, label = one_image
    data = MaskDataset(samples, labels, resize=20, crop=16, flip=False, normalization=NORM, seed=0,
                       scale=(1.5, 1.5))
    _, crop = data[0]
    enlarged = cv2.resize(label, (30, 30), interpolation=cv2.INTER_NEAREST)
    assert any(np.array_equal(enlarged[y:y + 16, x:x + 16], crop.numpy()) for y, x in _windows(enlarged, 16))


def test_random_scale_varies_between_epochs_and_replays_exactly(one_image):
    samples, labels, _, _ = one_image
    data = MaskDataset(samples, labels, resize=32, crop=32, flip=True, normalization=NORM, seed=3,
                       scale=(0.5, 1.5))
    void_shares = set()
    for epoch in range(12):
        data.set_epoch(2, epoch)
        image, crop = data[0]
        again_image, again_crop = data[0]
        assert np.array_equal(crop.numpy(), again_crop.numpy()) and np.array_equal(image.numpy(), again_image.numpy())
        void_shares.add(round(float((crop == 255).float().mean()), 3))
    assert len(void_shares) > 3


@pytest.mark.parametrize("scale_min, scale_max", [(0.0, 1.0), (1.5, 0.5), (-1.0, 1.0)])
def test_bad_scale_range_is_refused(scale_min, scale_max):
    with pytest.raises(InputError, match="scale_min"):
        resolve_config(recipe=None, config=None, overrides={"scale_min": scale_min, "scale_max": scale_max})


def test_train_cli_refuses_a_reversed_scale_range_before_writing(tmp_path):
    from click.testing import CliRunner

    from c2fbench.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(tmp_path / "imagenet"), "--out",
                                      str(tmp_path / "run"), "--recipe", "tiny", "--scale-min", "1.5",
                                      "--scale-max", "0.5", "--threads", "1"])
    assert result.exit_code == 2 and "scale_min" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
