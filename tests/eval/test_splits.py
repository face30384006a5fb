"""``eval --split FILE`` on the VOC and COCO benchmarks, and ``voc-train-aug``: a split file
scores what a folder holding only those images scores, SegmentationClassAug's grayscale
labels against scikit-learn, and every refusal in one line naming the id."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from conftest import random_label_map, save_palette_png
from tests.cli_helpers import assert_refused, run


def random_predictions(folder, labels: dict, classes: int = 21):
    rng = np.random.default_rng()
    preds = {}
    for image_id, label in labels.items():
        pred = np.where(rng.random(label.shape) < 0.3, rng.integers(0, classes, label.shape), label)
        preds[image_id] = np.where(pred == 255, 0, pred).astype(np.uint8)
        save_palette_png(folder / f"{image_id}.png", preds[image_id])
    return preds


def metrics_of(*args):
    result = run("eval", *args)
    assert result.exit_code == 0, result.output
    out = args[args.index("--out") + 1]
    return json.loads((out / "metrics.json").read_text()), np.load(out / "per_image.npz")


def test_a_split_file_scores_what_a_folder_of_only_its_images_scores(voc_tree, tmp_path):
    data_root, voc, labels = voc_tree
    random_predictions(tmp_path / "pred", labels)
    chosen = [list(labels)[3], list(labels)[0], list(labels)[4]]  # not in the folder's order
    (tmp_path / "ids.txt").write_text("\ufeff" + "\n".join(chosen) + "\n\n")  # a BOM and a blank line
    by_split, npz = metrics_of("voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred",
                               "--split", tmp_path / "ids.txt", "--out", tmp_path / "a")
    only = tmp_path / "only" / "VOC2012"  # the second path: a VOC folder holding those images alone
    (only / "ImageSets" / "Segmentation").mkdir(parents=True)
    (only / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(chosen))
    (only / "SegmentationClass").mkdir()
    for image_id in chosen:
        shutil.copy(voc / "SegmentationClass" / f"{image_id}.png", only / "SegmentationClass")
    by_folder, _ = metrics_of("voc-val", "--data-root", only, "--predictions", tmp_path / "pred", "--out",
                              tmp_path / "b")
    assert by_split["confusion_matrix"] == by_folder["confusion_matrix"]
    assert by_split["mIoU"] == by_folder["mIoU"] and by_split["num_images"] == 3
    assert list(npz["ids"]) == chosen
    assert by_split["data"]["split"] == str((tmp_path / "ids.txt").resolve())
    assert "split" not in by_folder["data"]


@pytest.mark.parametrize("text, fragments", [
    ("2007_000000\n../etc/passwd\n", ["ids.txt: line 2", "not an image id"]),
    ("2007_000001\n2007_000002\n2007_000001\n", ["ids.txt: line 3", "image id 2007_000001 is listed twice",
                                                 "first on line 1"]),
    ("2007_000001\n2099_000001\n2099_000002\n", ["ids.txt: image id 2099_000001 and 1 more ids have no label",
                                                 "SegmentationClass/2099_000001.png"]),
    ("\n  \n", ["ids.txt: split file is empty"]),
])
def test_a_bad_split_file_is_refused_naming_the_id(voc_tree, tmp_path, text, fragments):
    data_root, _, labels = voc_tree
    random_predictions(tmp_path / "pred", labels)
    (tmp_path / "ids.txt").write_text(text)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred",
            "--split", tmp_path / "ids.txt", "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", *fragments)


def test_the_split_file_is_kept_apart_from_the_outputs(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    random_predictions(tmp_path / "pred", labels)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "ids.txt").write_text(list(labels)[0])
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred",
            "--ids", tmp_path / "o" / "ids.txt", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "holds --split" in r.output, r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["ids.txt"]


def test_split_is_refused_on_object_discovery(mit_tree, tmp_path):
    data_root, _ = mit_tree
    (tmp_path / "ids.txt").write_text("0000\n")
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path,
            "--split", tmp_path / "ids.txt")
    assert_refused(r, None, "--split", "VOC and COCO benchmarks")


@pytest.fixture
def aug_tree(voc_tree):
    """voc_tree plus SegmentationClassAug/ (grayscale "L" PNGs, other labels than
    SegmentationClass/, so reading the wrong folder shows) and train_aug.txt of 4 ids."""
    data_root, voc, labels = voc_tree
    rng = np.random.default_rng()
    aug = {}
    for k, image_id in enumerate([*list(labels)[1:], "2008_000123"]):
        shape = labels[image_id].shape if image_id in labels else (30, 20)
        aug[image_id] = random_label_map(rng, *shape)
        (voc / "SegmentationClassAug").mkdir(exist_ok=True)
        Image.fromarray(aug[image_id], mode="L").save(voc / "SegmentationClassAug" / f"{image_id}.png")
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text("".join(f"{i}\n" for i in aug))
    return data_root, voc, aug


def sklearn_matrix(labels: dict, preds: dict, classes: int = 21):
    gt = np.concatenate([labels[i].ravel() for i in labels])
    pred = np.concatenate([preds[i].ravel() for i in labels])
    keep = gt != 255
    return confusion_matrix(gt[keep], pred[keep], labels=list(range(classes)))


def test_voc_train_aug_reads_train_aug_txt_and_segmentation_class_aug(aug_tree, tmp_path):
    data_root, _, aug = aug_tree
    preds = random_predictions(tmp_path / "pred", aug)
    metrics, npz = metrics_of("voc-train-aug", "--data-root", data_root, "--predictions", tmp_path / "pred",
                              "--out", tmp_path / "res")
    np.testing.assert_array_equal(np.array(metrics["confusion_matrix"]), sklearn_matrix(aug, preds))
    assert metrics["benchmark"] == "voc-train-aug" and list(npz["ids"]) == list(aug)
    two = list(aug)[2:]
    (tmp_path / "two.txt").write_text("\n".join(two))
    subset, _ = metrics_of("voc-train-aug", "--data-root", data_root, "--predictions", tmp_path / "pred",
                           "--split", tmp_path / "two.txt", "--out", tmp_path / "two")
    np.testing.assert_array_equal(np.array(subset["confusion_matrix"]),
                                  sklearn_matrix({i: aug[i] for i in two}, preds))


def test_voc_train_aug_without_its_list_or_labels_says_what_it_needs(aug_tree, tmp_path):
    data_root, voc, aug = aug_tree
    random_predictions(tmp_path / "pred", aug)
    (voc / "SegmentationClassAug" / "2008_000123.png").unlink()
    r = run("eval", "voc-train-aug", "--data-root", data_root, "--predictions", tmp_path / "pred")
    assert_refused(r, None, "train_aug.txt: image id 2008_000123 has no label in SegmentationClassAug/")
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").unlink()
    r = run("eval", "voc-train-aug", "--data-root", data_root, "--predictions", tmp_path / "pred")
    assert_refused(r, None, "train_aug.txt: split file not found", "--split FILE")


def test_coco_val_split_scores_what_a_folder_of_only_its_labels_scores(tmp_path):
    rng = np.random.default_rng()
    labels = {}
    for k in range(4):
        image_id = f"COCO_val2014_{k:012d}"
        label = rng.integers(0, 81, (12, 16)).astype(np.uint8)
        label[rng.random(label.shape) < 0.1] = 255
        labels[image_id] = label
        save_palette_png(tmp_path / "coco" / "SegmentationClass" / "val2014" / f"{image_id}.png", label)
    preds = random_predictions(tmp_path / "pred", labels, classes=81)
    chosen = [list(labels)[2], list(labels)[1]]
    (tmp_path / "ids.txt").write_text("\n".join(chosen))
    by_split, _ = metrics_of("coco-val", "--data-root", tmp_path / "coco", "--predictions", tmp_path / "pred",
                             "--split", tmp_path / "ids.txt", "--out", tmp_path / "a")
    for image_id in chosen:
        save_palette_png(tmp_path / "only" / "SegmentationClass" / "val2014" / f"{image_id}.png", labels[image_id])
    by_folder, _ = metrics_of("coco-val", "--data-root", tmp_path / "only", "--predictions", tmp_path / "pred",
                              "--out", tmp_path / "b")
    assert by_split["confusion_matrix"] == by_folder["confusion_matrix"] and by_split["num_images"] == 2
    np.testing.assert_array_equal(np.array(by_split["confusion_matrix"]),
                                  sklearn_matrix({i: labels[i] for i in chosen}, preds, classes=81))
    (tmp_path / "ids.txt").write_text("COCO_val2014_000000000009\n")
    r = run("eval", "coco-val", "--data-root", tmp_path / "coco", "--predictions", tmp_path / "pred",
            "--split", tmp_path / "ids.txt")
    assert_refused(r, None, "image id COCO_val2014_000000000009 has no label")


def test_help_and_list_say_which_train_split():
    help_text = " ".join(run("eval", "--help").output.split())
    assert "voc-train is the official train.txt (1,464 images)" in help_text
    assert "voc-train-aug is train_aug.txt" in help_text and "--split" in help_text
    listed = " ".join(run("list", "benchmarks", env={"COLUMNS": "250"}).output.split())
    assert "train.txt, 1,464 images" in listed and "voc-train-aug" in listed and "train_aug.txt" in listed
