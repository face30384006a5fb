"""Finding VOC and Object Discovery folders, split files, and mask reading."""

import pytest

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
