"""ImageNet reader and the VOC -> wnid table.

Oracles are hand-written: the standard ImageNet-1k order (wnid-sorted) and the known
wnids at the ends of the bird and dog index ranges, and hand-listed expected samples.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from c2fbench.data.imagenet import (
    SYNSETS_FILE,
    find_imagenet_train,
    list_imagenet,
    load_voc_synsets,
    wnid_to_voc_label,
)
from c2fbench.errors import InputError

VOC_NAMES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads(SYNSETS_FILE.read_text())["classes"]


# --- the table --------------------------------------------------------------------------


def test_table_has_20_classes_in_voc_order(raw):
    assert list(raw) == VOC_NAMES


def test_bird_and_dog_cover_their_1k_index_ranges(raw):
    bird, dog = raw["bird"]["synsets"], raw["dog"]["synsets"]
    assert len(bird) == 59 and len(dog) == 118
    # The 1k order is wnid-sorted, so an index range is an increasing run of wnids.
    assert bird == sorted(bird) and dog == sorted(dog)
    # Ends of 7-24 (cock .. great grey owl), 80-100 (black grouse .. black swan),
    # 127-146 (white stork .. albatross) and 151-268 (Chihuahua .. Mexican hairless).
    assert [bird[i] for i in (0, 17, 18, 38, 39, 58)] == [
        "n01514668", "n01622779", "n01795545", "n01860187", "n02002556", "n02058221",
    ]
    assert (dog[0], dog[-1]) == ("n02085620", "n02113978")


def test_every_wnid_is_well_formed_and_unique(raw):
    wnids = [w for c in raw.values() for w in c["synsets"] + c.get("extra_synsets", [])]
    assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    assert len(wnids) == len(set(wnids))
    assert all(re.fullmatch(r"n\d{8}", c["parent"]) for c in raw.values())


def test_first_entries_unchanged(raw):
    firsts = {name: c["synsets"][0] for name, c in raw.items()}
    assert firsts["aeroplane"] == "n02690373"
    assert firsts["bird"] == "n01514668"
    assert firsts["dog"] == "n02085620"
    assert firsts["person"] == "n09835506"
    assert firsts["tvmonitor"] == "n04404412"


def test_person_uses_the_three_person_synsets(raw):
    assert raw["person"]["synsets"] == ["n09835506", "n10148035", "n10565667"]


def test_load_keeps_file_order_and_extras_only_on_request(raw):
    main = load_voc_synsets()
    assert list(main) == VOC_NAMES
    assert main["boat"] == tuple(raw["boat"]["synsets"])
    assert "n02692877" not in main["aeroplane"]  # airship is an extra
    extra = load_voc_synsets(include_extra=True)
    assert extra["aeroplane"] == ("n02690373", "n04552348", "n02692877")
    assert extra["car"][-3:] == ("n03930630", "n03977966", "n02701002")


def test_wnid_to_voc_label():
    labels = wnid_to_voc_label()
    assert labels["n02690373"] == 1
    assert labels["n01514668"] == 3
    assert labels["n02085620"] == 12
    assert labels["n10565667"] == 15
    assert labels["n04404412"] == 20
    assert "n01440764" not in labels  # tench
    assert "n02692877" not in labels and wnid_to_voc_label(include_extra=True)["n02692877"] == 1


def _good_table() -> dict:
    return {name: {"synsets": [f"n{i:08d}"]} for i, name in enumerate(VOC_NAMES)}


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        (dict(reversed(_good_table().items())), "in order"),
        (_good_table() | {"cow": {"synsets": ["n00000001"]}}, "twice"),  # bicycle has it too
        (_good_table() | {"cat": {"synsets": ["cat"]}}, "not a wnid"),
        (_good_table() | {"cow": {"synsets": []}}, "non-empty"),
    ],
)
def test_malformed_table_raises(tmp_path, classes, message):
    path = tmp_path / "bad_synsets.json"
    path.write_text(json.dumps({"classes": classes}))
    with pytest.raises(InputError, match=message) as info:
        load_voc_synsets(path=path)
    assert "bad_synsets.json" in str(info.value)


# --- the reader -------------------------------------------------------------------------


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


@pytest.fixture
def imagenet(tmp_path) -> Path:
    """ROOT/train with two mapped folders, one unmapped and one extra-only."""
    train = tmp_path / "imagenet" / "train"
    for name in (
        "n02690373/n02690373_2.JPEG", "n02690373/n02690373_10.jpeg", "n02690373/notes.txt",
        "n02085620/n02085620_7.JPEG", "n02085620/n02085620_1.png", "n02085620/n02085620_3.jpg",
        "n01440764/n01440764_1.JPEG",  # tench: not VOC
        "n02692877/n02692877_5.JPEG",  # airship: extra only
    ):
        _touch(train / name)
    (train / "n02085620" / "sub").mkdir()
    return tmp_path / "imagenet"


def test_lists_only_mapped_folders_sorted_with_labels(imagenet):
    samples = list_imagenet(imagenet)
    assert [(s.rel, s.wnid, s.label) for s in samples] == [
        ("n02085620/n02085620_1", "n02085620", 12),
        ("n02085620/n02085620_3", "n02085620", 12),
        ("n02085620/n02085620_7", "n02085620", 12),
        ("n02690373/n02690373_10", "n02690373", 1),
        ("n02690373/n02690373_2", "n02690373", 1),
    ]
    assert samples[0].path == imagenet / "train" / "n02085620" / "n02085620_1.png"
    assert all(s.path.is_file() for s in samples)


def test_train_folder_itself_is_accepted(imagenet):
    assert find_imagenet_train(imagenet) == imagenet / "train"
    assert find_imagenet_train(imagenet / "train") == imagenet / "train"
    assert list_imagenet(imagenet / "train") == list_imagenet(imagenet)


def test_include_extra_reads_extra_folders(imagenet):
    rels = [s.rel for s in list_imagenet(imagenet, include_extra=True)]
    assert "n02692877/n02692877_5" in rels and len(rels) == 6


def test_image_list_accepts_both_entry_forms(imagenet, tmp_path):
    listing = tmp_path / "subset.txt"
    listing.write_text(
        "# a comment\n"
        "n02690373/n02690373_2.JPEG\n"
        "\n"
        "n02085620/n02085620_1\n"
        "n02690373_10\n"
        "n02085620_7.JPEG   # trailing comment\n"
    )
    samples = list_imagenet(imagenet, image_list=listing)
    assert [s.rel for s in samples] == [
        "n02085620/n02085620_1", "n02085620/n02085620_7",
        "n02690373/n02690373_10", "n02690373/n02690373_2",
    ]
    assert samples[3].label == 1


@pytest.mark.parametrize(
    "entry",
    [
        "n02690373/n02690373_99",  # no such image
        "n02690373_2.png",  # the file is .JPEG
        "n01440764_1",  # tench: folder exists but is not VOC-mapped
        "n02690373/n02690373_2",  # same image as line 1
    ],
)
def test_bad_image_list_entry_names_file_and_line(imagenet, tmp_path, entry):
    listing = tmp_path / "my_list.txt"
    listing.write_text(f"n02690373_2\n\n{entry}\n")
    with pytest.raises(InputError) as info:
        list_imagenet(imagenet, image_list=listing)
    message = str(info.value)
    assert "my_list.txt:3" in message and entry in message and "\n" not in message


def test_empty_image_list_raises(imagenet, tmp_path):
    listing = tmp_path / "only_comments.txt"
    listing.write_text("# nothing\n\n")
    with pytest.raises(InputError, match="only_comments.txt"):
        list_imagenet(imagenet, image_list=listing)


def test_missing_image_list_raises(imagenet, tmp_path):
    with pytest.raises(InputError, match="absent.txt"):
        list_imagenet(imagenet, image_list=tmp_path / "absent.txt")


def test_missing_root_raises(tmp_path):
    with pytest.raises(InputError, match="no_such_root"):
        list_imagenet(tmp_path / "no_such_root")


def test_root_without_wnid_folders_raises(tmp_path):
    (tmp_path / "empty_root" / "misc").mkdir(parents=True)
    with pytest.raises(InputError, match="empty_root"):
        find_imagenet_train(tmp_path / "empty_root")


def test_no_mapped_folder_raises(tmp_path):
    _touch(tmp_path / "only_fish" / "train" / "n01440764" / "n01440764_1.JPEG")
    with pytest.raises(InputError, match="only_fish") as info:
        list_imagenet(tmp_path / "only_fish")
    assert "n02690373" in str(info.value)


def test_mapped_folders_without_images_raise(tmp_path):
    _touch(tmp_path / "no_images" / "train" / "n02690373" / "readme.txt")
    with pytest.raises(InputError, match="no_images"):
        list_imagenet(tmp_path / "no_images")


def test_a_fifo_or_device_link_is_listed_for_its_reader_to_refuse(imagenet):
    """Not silently dropped: the training runs count and name the images they leave out."""
    import os

    folder = imagenet / "train" / "n02690373"
    os.mkfifo(folder / "n02690373_4.JPEG")
    (folder / "n02690373_5.JPEG").symlink_to("/dev/zero")
    (folder / ".hidden.JPEG").write_bytes(b"")
    rels = [s.rel for s in list_imagenet(imagenet)]
    assert "n02690373/n02690373_4" in rels and "n02690373/n02690373_5" in rels
    assert "n02690373/.hidden" not in rels and len(rels) == 7


def test_a_deeply_nested_synset_table_is_one_error(tmp_path):
    path = tmp_path / "synsets.json"
    path.write_text('{"classes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="synsets.json: .*not valid JSON"):
        load_voc_synsets(path=path)
