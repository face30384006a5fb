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


def test_data_root_levels_are_what_the_help_texts_say(tmp_path):
    """Issue 28: help said "VOCdevkit/VOC2012 or any folder above it", but the search stops
    two levels above VOC2012 (Object Discovery's: three above Data/). Built by hand: each
    level the text names is found, the next one up is refused, and every --data-root help
    quotes the text."""
    from cli_helpers import run

    voc_root = tmp_path / "a" / "b" / "VOCdevkit" / "VOC2012"
    (voc_root / "ImageSets" / "Segmentation").mkdir(parents=True)
    for above in (voc_root, voc_root.parent, voc_root.parents[1]):  # VOC2012, VOCdevkit, the folder holding it
        assert voc.find_voc_root(above) == voc_root
    with pytest.raises(InputError, match="no VOC 2012 data found"):
        voc.find_voc_root(voc_root.parents[2])  # three levels above
    data = tmp_path / "m" / "n" / "o" / "p" / "Data"
    for name in mit.MIT_CLASSES:
        (data / name).mkdir(parents=True)
    for level in range(4):  # Data/ itself and up to three levels above it
        assert mit.find_mit_root(data.parents[level - 1] if level else data) == data
    with pytest.raises(InputError, match="no Object Discovery data found"):
        mit.find_mit_root(data.parents[3])
    assert voc.ROOT_FORMS == "VOCdevkit/VOC2012, VOCdevkit, or the folder holding VOCdevkit"
    assert mit.ROOT_FORMS == "Object Discovery's Data/ or a folder up to three levels above it"
    for command in (["eval"], ["deploy", "parity"], ["submit", "voc-test"]):
        text = " ".join(run(*command, "--help", env={"COLUMNS": "250"}).output.split())
        assert f"{voc.ROOT_FORMS} (up to two levels above VOC2012)" in text, command
        assert "folder above it" not in text, command
    listed = " ".join(run("list", "benchmarks", env={"COLUMNS": "250"}).output.split())
    assert listed.count(voc.ROOT_FORMS) == 3 and "folder above it" not in listed
