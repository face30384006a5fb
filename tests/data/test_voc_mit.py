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
