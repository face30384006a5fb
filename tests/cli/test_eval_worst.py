"""``eval --worst K --show-dir DIR`` on the hand-built fixtures: the corrupted predictions rank
worst, their overlays exist with the expected layout, worst.csv joins --out's sha256 record,
and every bad --worst / --show-dir is refused before anything is written."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

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
    assert sorted(p.name for p in show.iterdir()) == [f"1_{expected[0]}.png", f"2_{expected[1]}.png", "worst.csv"]
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
    assert len(names) == 6 and names[-1] == "worst.csv"
    assert {n.split("_", 1)[1][:-4] for n in names[:2]} == corrupted
    r = run(*args[:-2], "--worst", 1, "--workers", 1)
    assert r.exit_code == 0, r.output
    assert len(list(show.iterdir())) == 2  # an earlier show-dir is replaced whole


def test_mit_ids_are_flattened_and_images_without_an_object_come_last(mit_tree, tmp_path):
    data_root, masks = mit_tree
    for image_id, mask in masks.items():
        (tmp_path / "pred" / image_id).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(mask, 3, axis=1).astype(np.uint8) * 255).save(tmp_path / "pred" / f"{image_id}.png")
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "pred",
            "--show-dir", tmp_path / "show", "--workers", 1)
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "show").iterdir())
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
    assert names[0] == names[1] and len(names[0]) == 3


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


def test_a_predictions_folder_is_never_taken_for_a_show_dir(voc_predictions, tmp_path):
    """VOC ids (2007_000000.png) look like overlay names; without worst.csv the folder is refused."""
    _, pred, _ = voc_predictions
    before = {p.name: p.read_bytes() for p in pred.iterdir()}
    r = refused(voc_predictions, tmp_path, "--worst", 1, "--show-dir", pred)
    assert_refused(r, None, "no worst.csv")
    assert {p.name: p.read_bytes() for p in pred.iterdir()} == before


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
    assert len(one) == 6 and one == two
