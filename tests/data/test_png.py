"""PNG I/O: label maps (palette round trip, the VOC colour map, refused inputs) and foreground masks."""

import numpy as np
import pytest
from PIL import Image

from c2fbench.data.png import read_label_png, read_mask_png, voc_colormap, write_label_png, write_mask_png
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


def test_the_colour_refusal_gives_a_fix_that_works(tmp_path):
    """Issue 28: the refusal names the file and the one line of PIL that writes class
    indices; run as given, that line writes a PNG read back as the same indices."""
    labels = np.random.default_rng().integers(0, 21, (5, 7)).astype(np.int64)
    colour = tmp_path / "colour.png"
    Image.fromarray(voc_colormap()[labels]).save(colour)
    with pytest.raises(InputError) as refused:
        read_label_png(colour)
    message = str(refused.value)
    assert message.startswith(f"{colour}: ") and "\n" not in message
    line = message.split("single-channel PNG: ", 1)[1]
    assert line == "Image.fromarray(index_array.astype(np.uint8)).save(path)"
    path = tmp_path / "fixed.png"
    exec(line, {"Image": Image, "np": np, "index_array": labels, "path": path})
    np.testing.assert_array_equal(read_label_png(path), labels)


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


# ---- foreground masks (moved with read_mask_png from data/mit.py) ----

def test_mask_reader_binarises_nonzero_in_any_channel(tmp_path):
    Image.fromarray(np.array([[0, 1, 255]], np.uint8)).save(tmp_path / "l.png")
    assert read_mask_png(tmp_path / "l.png").tolist() == [[False, True, True]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 2] = 7
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert read_mask_png(tmp_path / "c.png").tolist() == [[False, True]]


def imsave(path, array, **kwargs):
    """A mask saved the way many users save one: matplotlib's imsave (RGBA PNG, alpha 255)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(path, array, **kwargs)


def test_matplotlib_gray_mask_is_read_by_its_colour_not_its_alpha(tmp_path):
    mask = np.zeros((12, 16), bool)
    mask[3:9, 4:10] = True
    imsave(tmp_path / "m.png", mask, cmap="gray")
    with Image.open(tmp_path / "m.png") as im:
        assert im.mode == "RGBA" and np.asarray(im)[..., 3].min() == 255  # the case that scored J 25
    np.testing.assert_array_equal(read_mask_png(tmp_path / "m.png"), mask)
    imsave(tmp_path / "soft.png", mask * 0.8, cmap="gray", vmin=0, vmax=1)
    np.testing.assert_array_equal(read_mask_png(tmp_path / "soft.png", threshold=0.5), mask)


def test_matplotlib_default_colormap_is_refused_not_guessed(tmp_path):
    mask = np.zeros((12, 16), bool)
    mask[3:9, 4:10] = True
    imsave(tmp_path / "viridis.png", mask)
    with pytest.raises(InputError, match=r"viridis.png: colour mask with no black .*cmap='gray'"):
        read_mask_png(tmp_path / "viridis.png")


def test_alpha_is_ignored_and_an_alpha_only_mask_is_refused(tmp_path):
    mask = np.array([[0, 255, 255], [0, 0, 255]], np.uint8)
    la = np.stack([mask, np.full_like(mask, 128)], axis=-1)  # half transparent everywhere
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_mask_png(tmp_path / "la.png"), mask > 0)
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 3] = mask  # the mask drawn as opacity over uniform black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(InputError, match="alpha.png: the mask is in the alpha channel only"):
        read_mask_png(tmp_path / "alpha.png")
    one_colour = np.zeros((2, 3, 3), np.uint8)
    one_colour[...] = (200, 30, 30)  # a single non-black colour: everything is foreground
    Image.fromarray(one_colour).save(tmp_path / "red.png")
    assert read_mask_png(tmp_path / "red.png").all()
