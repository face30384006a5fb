"""``eval --worst K --show-dir DIR`` on the hand-built fixtures: the corrupted predictions rank
worst, their overlays exist with the expected layout, worst.csv joins --out's sha256 record,
and every bad --worst / --show-dir is refused before anything is written."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from c2fbench.eval.show import MARKER
from cli_helpers import assert_refused, run
from conftest import save_palette_png


@pytest.fixture
def voc_predictions(voc_tree, tmp_path):
    """Predictions equal to the ground truth (void as background) except two images predicted
    all background; returns (data_root, predictions folder, the two corrupted ids)."""
    data_root, _, labels = voc_tree
    ids = list(labels)
    corrupted = {ids[1], ids[3]}
    for image_id, label in labels.items():
        pred = np.zeros_like(label) if image_id in corrupted else np.where(label == 255, 0, label)
        save_palette_png(tmp_path / "pred" / f"{image_id}.png", pred.astype(np.uint8))
    return data_root, tmp_path / "pred", corrupted


def image_miou(label, pred):
    """The oracle: mean IoU over the classes in ground truth or prediction, void excluded."""
    keep = label != 255
    g, p = label[keep], pred[keep]
    classes = np.union1d(g, p)
    return 100 * np.mean([((g == c) & (p == c)).sum() / ((g == c) | (p == c)).sum() for c in classes])


def test_the_corrupted_images_rank_worst_with_overlays(voc_tree, voc_predictions, tmp_path):
    _, _, labels = voc_tree
    data_root, pred, corrupted = voc_predictions
    show = tmp_path / "show"
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--worst", 2, "--show-dir", show,
            "--out", tmp_path / "res", "--workers", 1)
    assert r.exit_code == 0, r.output
    expected = sorted(corrupted, key=lambda i: (image_miou(labels[i], np.zeros_like(labels[i])), i))
    assert sorted(p.name for p in show.iterdir()) == [f"1_{expected[0]}.png", f"2_{expected[1]}.png", MARKER,
                                                      "worst.csv"]
    for k, image_id in enumerate(expected, 1):
        with Image.open(show / f"{k}_{image_id}.png") as im:
            assert im.format == "PNG" and im.mode == "RGBA"
            width, height = im.size
        assert width == 1056 and 300 < height < width  # three panels side by side, 9.6 in at 110 dpi
    rows = (tmp_path / "res" / "worst.csv").read_text().splitlines()
    assert rows[0] == "rank,id,mIoU,pixel acc,missed,extra,confused"
    assert [row.split(",")[1] for row in rows[1:]] == expected
    for row, image_id in zip(rows[1:], expected):
        assert float(row.split(",")[2]) == pytest.approx(image_miou(labels[image_id], np.zeros_like(labels[image_id])),
                                                         abs=1e-4)
    assert (show / "worst.csv").read_text() == (tmp_path / "res" / "worst.csv").read_text()
    for image_id in expected:  # the printed table names them
        assert image_id in r.output
    metrics = json.loads((tmp_path / "res" / "metrics.json").read_text())
    assert metrics["files"]["worst.csv"]["sha256"] == hashlib.sha256((tmp_path / "res" / "worst.csv").read_bytes()
                                                                      ).hexdigest()
    report = run("report", tmp_path / "res", "--out", tmp_path / "rep", "--format", "md")
    assert report.exit_code == 0, report.output  # the report accepts a folder with worst.csv


def test_worst_alone_prints_the_table_and_writes_nothing(voc_predictions, tmp_path):
    data_root, pred, corrupted = voc_predictions
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--worst", 10, "--workers", 1)
    assert r.exit_code == 0, r.output
    assert "the 5 worst images" in r.output and "missed" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "pred"]


def test_show_dir_alone_draws_every_image_and_replaces_an_earlier_one(voc_predictions, tmp_path):
    data_root, pred, corrupted = voc_predictions
    show = tmp_path / "show"
    args = ("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--show-dir", show, "--workers", 1)
    r = run(*args)
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in show.iterdir())
    assert len(names) == 7 and names[-2:] == [MARKER, "worst.csv"]
    assert {n.split("_", 1)[1][:-4] for n in names[:2]} == corrupted
    r = run(*args[:-2], "--worst", 1, "--workers", 1)
    assert r.exit_code == 0, r.output
    assert len(list(show.iterdir())) == 3  # an earlier show-dir is replaced whole


def test_mit_ids_are_flattened_and_images_without_an_object_come_last(mit_tree, tmp_path):
    data_root, masks = mit_tree
    for image_id, mask in masks.items():
        (tmp_path / "pred" / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(mask, 3, axis=1).astype(np.uint8) * 255).save(tmp_path / "pred" / f"{image_id}.png")
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "pred",
            "--show-dir", tmp_path / "show", "--workers", 1)
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "show").iterdir() if p.name != MARKER)
    assert len(names) == 10 and all("/" not in n for n in names)
    assert [n.split("_", 1)[1] for n in names[6:9]] == ["Airplane100_0000.png", "Car100_0000.png",
                                                         "Horse100_0000.png"]
    rows = (tmp_path / "show" / "worst.csv").read_text().splitlines()
    assert rows[0] == "rank,id,J,P" and rows[7].split(",")[:3] == ["7", "Airplane100/0000", ""]


def test_a_model_is_run_again_on_the_drawn_images_only_and_ranks_like_its_predictions(voc_tree, tmp_path):
    import torch

    from c2fbench.data.voc import VOC_CLASSES
    from c2fbench.models import deeplab_v2_vgg_lite, save_checkpoint

    data_root, voc, _ = voc_tree
    torch.manual_seed(0)
    path = tmp_path / "voc.pt"
    save_checkpoint(path, deeplab_v2_vgg_lite(num_classes=21), arch="deeplab_v2_vgg_lite", kwargs={"num_classes": 21},
                    classes=list(VOC_CLASSES))
    by_model = run("eval", "voc-val", "--data-root", data_root, "--model", path, "--worst", 2,
                   "--show-dir", tmp_path / "show")
    assert by_model.exit_code == 0, by_model.output
    predicted = run("predict", "--model", path, "--images", voc / "JPEGImages", "--out", tmp_path / "pred")
    assert predicted.exit_code == 0, predicted.output
    by_files = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--worst", 2,
                   "--show-dir", tmp_path / "show2", "--workers", 1)
    assert by_files.exit_code == 0, by_files.output
    assert (tmp_path / "show" / "worst.csv").read_text() == (tmp_path / "show2" / "worst.csv").read_text()
    names = [sorted(p.name for p in (tmp_path / show).iterdir()) for show in ("show", "show2")]
    assert names[0] == names[1] and len(names[0]) == 4


# ---- bad input: exit 2, one line, nothing written ----


def refused(voc_predictions, tmp_path, *extra):
    data_root, pred, _ = voc_predictions
    return run("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--workers", 1, *extra)


@pytest.mark.parametrize("k", [0, -3])
def test_worst_below_one_is_refused(voc_predictions, tmp_path, k):
    r = refused(voc_predictions, tmp_path, "--worst", k, "--out", tmp_path / "res", "--show-dir", tmp_path / "show")
    assert_refused(r, tmp_path / "res", f"--worst {k}", "1 or more")
    assert not (tmp_path / "show").exists()


def test_show_dir_that_is_a_file_is_refused(voc_predictions, tmp_path):
    (tmp_path / "show").write_text("mine")
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", tmp_path / "show", "--out", tmp_path / "res")
    assert_refused(r, tmp_path / "res", "show", "not a folder")
    assert (tmp_path / "show").read_text() == "mine"


def test_show_dir_holding_other_files_is_refused_and_kept(voc_predictions, tmp_path):
    (tmp_path / "show").mkdir()
    (tmp_path / "show" / "notes.txt").write_text("mine")
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", tmp_path / "show")
    assert_refused(r, None, "notes.txt", "not overlays")
    assert [p.name for p in (tmp_path / "show").iterdir()] == ["notes.txt"]


def test_the_predictions_folder_is_never_a_show_dir(voc_predictions, tmp_path):
    _, pred, _ = voc_predictions
    before = {p.name: p.read_bytes() for p in pred.iterdir()}
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", pred)
    assert_refused(r, None, f"--show-dir {pred}: is --predictions")
    assert {p.name: p.read_bytes() for p in pred.iterdir()} == before


def test_a_folder_of_voc_named_pngs_beside_a_worst_csv_is_not_taken_for_an_earlier_show_dir(voc_predictions,
                                                                                             tmp_path):
    """Issue 25: another model's predictions (VOC ids look like <rank>_<id>.png) with a
    worst.csv among them passed for an earlier show-dir and were deleted; only the marker
    that eval --show-dir writes makes a folder one."""
    _, pred, _ = voc_predictions
    other = tmp_path / "other-model"
    other.mkdir()
    for p in pred.iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    (other / "worst.csv").write_text("rank,id\n1,2007_000001\n")
    before = {p.name: p.read_bytes() for p in other.iterdir()}
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", other)
    assert_refused(r, None, str(other), f"no {MARKER}")
    assert {p.name: p.read_bytes() for p in other.iterdir()} == before


def test_a_forged_or_broken_marker_is_no_marker(voc_predictions, tmp_path):
    show = tmp_path / "show"
    show.mkdir()
    (show / "1_2007_000001.png").write_bytes(b"mine")
    for text in ("{not json", '{"written_by": "someone else"}', "[]"):
        (show / MARKER).write_text(text)
        assert_refused(refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", show), None, f"no {MARKER}")
    assert sorted(p.name for p in show.iterdir()) == ["1_2007_000001.png", MARKER]


@pytest.mark.parametrize("where", ["predictions", "split", "images", "labels", "dataset"])
@pytest.mark.parametrize("option", ["--show-dir", "--out"])
def test_outputs_apart_from_every_input(voc_tree, voc_predictions, tmp_path, option, where):
    _, voc, _ = voc_tree
    _, pred, _ = voc_predictions
    target = {"predictions": pred / "show", "split": voc / "ImageSets" / "Segmentation" / "val.txt",
              "images": voc / "JPEGImages", "labels": voc / "SegmentationClass",
              "dataset": tmp_path / "VOCdevkit"}[where]
    before = sorted((p.relative_to(tmp_path).as_posix(), p.read_bytes() if p.is_file() else b"")
                    for p in tmp_path.rglob("*"))
    r = refused(voc_predictions, tmp_path, "--worst", 1, option, target)
    if (option, where) == ("--out", "split"):
        assert r.exit_code == 2 and "is a file" in r.output  # click's own check of a folder option
    else:
        assert_refused(r, None, f"{option} {target}:")
    assert sorted((p.relative_to(tmp_path).as_posix(), p.read_bytes() if p.is_file() else b"")
                  for p in tmp_path.rglob("*")) == before


def test_a_link_to_the_predictions_is_the_predictions(voc_predictions, tmp_path):
    _, pred, _ = voc_predictions
    (tmp_path / "link").symlink_to(pred)
    r = refused(voc_predictions, tmp_path, "--out", tmp_path / "link")
    assert_refused(r, None, "is --predictions")
    assert len(list(pred.iterdir())) == 5


def test_an_output_beside_the_dataset_under_data_root_is_allowed(voc_predictions, tmp_path):
    """--data-root may be a folder above VOC2012 (here the one holding VOCdevkit and pred/):
    results beside the dataset are no input."""
    r = refused(voc_predictions, tmp_path, "--out", tmp_path / "res", "--show-dir", tmp_path / "show")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "show" / MARKER).is_file() and (tmp_path / "res" / "metrics.json").is_file()


def test_a_staging_folder_left_by_a_killed_run_is_removed_by_the_next(voc_predictions, tmp_path):
    """kill -9 while writing leaves .show.<pid>-<random>.staging beside --show-dir (and
    .res.<pid>-... beside --out); a rerun removes those whose process is gone."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = [tmp_path / f".show.{pid}-abc123.staging", tmp_path / f".res.{pid}-abc123.staging"]
    for folder in stale:
        folder.mkdir()
        (folder / "1_2007_000001.png").write_bytes(b"x" * 4096)
    alive = tmp_path / f".show.{os.getpid()}-def456.staging"  # a live run's: never touched
    alive.mkdir()
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", tmp_path / "show", "--out", tmp_path / "res")
    assert r.exit_code == 0, r.output
    assert not any(folder.exists() for folder in stale) and alive.is_dir()


@pytest.mark.parametrize("where", ["same", "inside"])
def test_show_dir_and_out_must_be_apart(voc_predictions, tmp_path, where):
    show = tmp_path / "res" if where == "same" else tmp_path / "res" / "show"
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", show, "--out", tmp_path / "res")
    assert_refused(r, tmp_path / "res", "separate folders")


def test_a_full_disk_leaves_no_show_dir_and_no_staging_folder(voc_predictions, tmp_path, full_disk):
    r = refused(voc_predictions, tmp_path, "--worst", 2, "--show-dir", tmp_path / "show")
    assert r.exit_code == 2 and "No space left on device" in r.output and "left as it was" in r.output, r.output
    assert not (tmp_path / "show").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".show")]


def test_overlays_drawn_by_worker_processes_are_the_same_bytes(voc_predictions, tmp_path):
    data_root, pred, _ = voc_predictions
    for workers in (1, 2):
        r = run("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--show-dir",
                tmp_path / f"show{workers}", "--workers", workers)
        assert r.exit_code == 0, r.output
    one, two = ({p.name: p.read_bytes() for p in (tmp_path / f"show{w}").iterdir()} for w in (1, 2))
    assert len(one) == 7 and one.pop(MARKER) == two.pop(MARKER) and one == two
