"""Label PNG I/O: palette round trip, the VOC colour map, and refused inputs."""

import numpy as np
import pytest
from PIL import Image

from c2fbench.data.labels import read_label_png, voc_colormap, write_label_png, write_mask_png
from c2fbench.errors import InputError

# The VOC colours as listed by chainercv's voc_utils.py (reference/eval-anchors.md section 2).
KNOWN_COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
                 5: (128, 0, 128), 15: (192, 128, 128), 20: (0, 64, 128), 255: (224, 224, 192)}


def test_colormap_matches_the_published_voc_colours():
    cmap = voc_colormap()
    for label, rgb in KNOWN_COLOURS.items():
        assert tuple(cmap[label]) == rgb


def test_palette_png_round_trip_keeps_every_index(tmp_path):
    label = np.random.default_rng().integers(0, 256, size=(31, 17)).astype(np.uint8)
    write_label_png(tmp_path / "a.png", label)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "P"
        assert im.getpalette()[3:6] == [128, 0, 0]
    np.testing.assert_array_equal(read_label_png(tmp_path / "a.png"), label)


def test_grayscale_index_png_is_accepted(tmp_path):
    label = np.array([[0, 3], [20, 255]], np.uint8)
    Image.fromarray(label, mode="L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_label_png(tmp_path / "g.png"), label)


def test_colour_png_is_refused_with_the_file_name(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match=r"rgb\.png: expected a single-channel .* found mode RGB"):
        read_label_png(tmp_path / "rgb.png")


def test_jpeg_and_corrupt_files_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "j.png", format="JPEG")
    with pytest.raises(InputError, match="j.png: expected a PNG"):
        read_label_png(tmp_path / "j.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputError, match="bad.png: (unreadable or )?corrupt"):
        read_label_png(tmp_path / "bad.png")
    with pytest.raises(InputError, match="missing.png: .*not found"):
        read_label_png(tmp_path / "missing.png")


def test_truncated_png_is_refused(tmp_path):
    write_label_png(tmp_path / "t.png", np.random.default_rng().integers(0, 21, (64, 64)).astype(np.uint8))
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.png"):
        read_label_png(tmp_path / "t.png")


def test_mask_png_is_zero_or_255(tmp_path):
    write_mask_png(tmp_path / "m.png", np.array([[True, False]]))
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "L"
        assert np.asarray(im).tolist() == [[255, 0]]


@pytest.mark.parametrize("mode", ["P", "L"])
def test_fast_decoder_agrees_with_pil_on_random_and_filtered_pngs(tmp_path, mode):
    """PIL writes palette PNGs unfiltered (the fast path) and grayscale ones with adaptive
    filters (the PIL path); either way the indices must be PIL's own."""
    rng = np.random.default_rng()
    for k in range(5):
        label = rng.integers(0, 256, size=(int(rng.integers(1, 70)), int(rng.integers(1, 70)))).astype(np.uint8)
        label[: label.shape[0] // 2] = label[0, 0]  # long runs as in real label maps
        Image.fromarray(label, mode="L").convert(mode).save(tmp_path / f"{k}.png")
        with Image.open(tmp_path / f"{k}.png") as im:
            expected = np.asarray(im)
        np.testing.assert_array_equal(read_label_png(tmp_path / f"{k}.png"), expected)


def test_interlaced_and_16_bit_pngs(tmp_path):
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(label, mode="L").save(tmp_path / "i.png", interlace=1)
    np.testing.assert_array_equal(read_label_png(tmp_path / "i.png"), label)
    Image.fromarray(label.astype(np.uint16) * 300).save(tmp_path / "w.png")
    with pytest.raises(InputError, match="w.png: expected a single-channel"):
        read_label_png(tmp_path / "w.png")


def test_a_folder_in_place_of_a_file(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="d.png"):
        read_label_png(tmp_path / "d.png")
