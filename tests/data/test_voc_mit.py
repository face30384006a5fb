"""Finding VOC and Object Discovery folders, split files, and mask reading."""

import numpy as np
import pytest
from PIL import Image

from c2fbench.data import mit, voc
from c2fbench.errors import InputError


@pytest.mark.parametrize("level", ["", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_voc_root_is_found_from_any_level(voc_tree, level):
    data_root, voc_root, _ = voc_tree
    assert voc.find_voc_root(data_root / level) == voc_root


def test_split_ids_in_file_order(voc_tree):
    _, voc_root, labels = voc_tree
    assert voc.read_split(voc_root, "val") == list(labels)


def test_missing_empty_and_duplicated_splits(voc_tree):
    _, voc_root, _ = voc_tree
    with pytest.raises(InputError, match="trainval.txt: split file not found"):
        voc.read_split(voc_root, "trainval")
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("\n\n")
    with pytest.raises(InputError, match="val.txt: split file is empty"):
        voc.read_split(voc_root, "val")
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("a\na\n")
    with pytest.raises(InputError, match="twice"):
        voc.read_split(voc_root, "val")


def test_missing_voc_root(tmp_path):
    with pytest.raises(InputError, match="data root not found"):
        voc.find_voc_root(tmp_path / "nope")
    with pytest.raises(InputError, match="no VOC 2012 data found"):
        voc.find_voc_root(tmp_path)


@pytest.mark.parametrize("level", ["", "ObjectDiscovery", "ObjectDiscovery/Data"])
def test_mit_root_is_found_from_any_level(mit_tree, level):
    data_root, _ = mit_tree
    assert mit.find_mit_root(data_root / level) == data_root / "ObjectDiscovery" / "Data"


def test_mit_folder_lists_images_with_ground_truth_and_reports_the_rest(mit_tree):
    data_root, _ = mit_tree
    data = data_root / "ObjectDiscovery" / "Data"
    (data / "Car" / "GroundTruth" / "0002.png").unlink()
    scored, missing = mit.list_folder(data, "Car")
    assert scored == ["0000", "0001"] and missing == ["0002"]


def test_mask_reader_binarises_nonzero_in_any_channel(tmp_path):
    Image.fromarray(np.array([[0, 1, 255]], np.uint8)).save(tmp_path / "l.png")
    assert mit.read_mask_png(tmp_path / "l.png").tolist() == [[False, True, True]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 2] = 7
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert mit.read_mask_png(tmp_path / "c.png").tolist() == [[False, True]]


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
    np.testing.assert_array_equal(mit.read_mask_png(tmp_path / "m.png"), mask)
    imsave(tmp_path / "soft.png", mask * 0.8, cmap="gray", vmin=0, vmax=1)
    np.testing.assert_array_equal(mit.read_mask_png(tmp_path / "soft.png", threshold=0.5), mask)


def test_matplotlib_default_colormap_is_refused_not_guessed(tmp_path):
    mask = np.zeros((12, 16), bool)
    mask[3:9, 4:10] = True
    imsave(tmp_path / "viridis.png", mask)
    with pytest.raises(InputError, match=r"viridis.png: colour mask with no black .*cmap='gray'"):
        mit.read_mask_png(tmp_path / "viridis.png")


def test_alpha_is_ignored_and_an_alpha_only_mask_is_refused(tmp_path):
    mask = np.array([[0, 255, 255], [0, 0, 255]], np.uint8)
    la = np.stack([mask, np.full_like(mask, 128)], axis=-1)  # half transparent everywhere
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(mit.read_mask_png(tmp_path / "la.png"), mask > 0)
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 3] = mask  # the mask drawn as opacity over uniform black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(InputError, match="alpha.png: the mask is in the alpha channel only"):
        mit.read_mask_png(tmp_path / "alpha.png")
    one_colour = np.zeros((2, 3, 3), np.uint8)
    one_colour[...] = (200, 30, 30)  # a single non-black colour: everything is foreground
    Image.fromarray(one_colour).save(tmp_path / "red.png")
    assert mit.read_mask_png(tmp_path / "red.png").all()


@pytest.mark.parametrize("bad", ["/etc/passwd", "../../secret", "a/b", "..", ".", "a b", "id\\x"])
def test_split_ids_that_are_paths_are_refused_with_their_line(voc_tree, bad):
    _, voc_root, labels = voc_tree
    lines = list(labels)
    lines.insert(2, bad)
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"val.txt: line 3: .* is not an image id"):
        voc.read_split(voc_root, "val")


def test_split_with_a_byte_order_mark_and_crlf_reads_the_same_ids(voc_tree):
    _, voc_root, labels = voc_tree
    (voc_root / "ImageSets/Segmentation/val.txt").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(labels).encode())
    assert voc.read_split(voc_root, "val") == list(labels)


def test_split_that_is_not_utf8_names_the_line(voc_tree):
    _, voc_root, labels = voc_tree
    text = "\n".join(labels).encode() + b"\n2008_caf\xe9\n"  # latin-1 e-acute
    (voc_root / "ImageSets/Segmentation/val.txt").write_bytes(text)
    with pytest.raises(InputError, match=r"val.txt: line 6 is not UTF-8 \(byte 0xe9\)"):
        voc.read_split(voc_root, "val")


def test_split_with_crlf_trailing_spaces_and_blank_lines_reads_the_same_ids(voc_tree):
    _, voc_root, labels = voc_tree
    text = "\r\n".join(f"{i} \t" for i in labels).replace("\r\n", "\r\n\r\n  \r\n", 1) + "\r\n\r\n"
    (voc_root / "ImageSets/Segmentation/val.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert voc.read_split(voc_root, "val") == list(labels)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_split_that_is_not_a_regular_file_is_refused_without_reading_it(voc_tree, kind):
    import os

    _, voc_root, _ = voc_tree
    path = voc_root / "ImageSets/Segmentation/val.txt"
    path.unlink()
    {"fifo": os.mkfifo, "dev-zero": lambda p: os.symlink("/dev/zero", p), "folder": os.mkdir}[kind](path)
    with pytest.raises(InputError, match=r"val\.txt: not a regular file \(expected a split file"):
        voc.read_split(voc_root, "val")


def test_split_lines_end_at_newlines_only(voc_tree):
    """A Unicode line separator inside a line is part of that line (refused as an id, with the
    line's own number), not the start of a new one as str.splitlines would have it."""
    _, voc_root, labels = voc_tree
    ids = list(labels)
    path = voc_root / "ImageSets" / "Segmentation" / "val.txt"
    path.write_text(f"{ids[0]}\n{ids[1]}\u2028x\n{ids[2]}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"val\.txt: line 2: "):
        voc.read_split(voc_root, "val")
