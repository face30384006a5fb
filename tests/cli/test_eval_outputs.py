"""``c2fbench eval`` through click's CliRunner: the --out folder written as one unit, model
and device refusals, MIT masks saved by matplotlib, and split files with unsafe ids."""

import errno
import json
import os

import numpy as np
import pytest
from PIL import Image

from test_eval_cli import assert_refused, run, write_predictions


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.endswith((".staging", ".old")))


@pytest.fixture
def earlier_result(voc_tree, tmp_path):
    """An `eval voc-val --out O` folder of good predictions, and a second, worse prediction folder."""
    data_root, _, labels = voc_tree
    write_predictions(tmp_path / "good", labels, corrupt_rate=0.1, seed=1)
    write_predictions(tmp_path / "bad", labels, corrupt_rate=0.7, seed=2)
    out = tmp_path / "O"
    first = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "good", "--out", out)
    assert first.exit_code == 0, first.output
    return data_root, out


@pytest.mark.parametrize("fail_at", [1, 2, 4])
def test_a_failed_write_leaves_the_earlier_result_untouched(earlier_result, tmp_path, monkeypatch, fail_at):
    """The disk fills up while writing the fail_at-th file: O keeps its earlier files, byte for
    byte, and no staging folder is left beside it."""
    import c2fbench.eval.results as results

    data_root, out = earlier_result
    before = snapshot(out)
    real = results.atomic_write_bytes
    calls = []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", full_disk)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "bad", "--out", out)
    assert r.exit_code == 2 and "No space left on device" in r.output and "left as it was" in r.output, r.output
    assert len(calls) == fail_at
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_new_result_replaces_the_folder_as_a_whole(earlier_result, tmp_path, monkeypatch, exchange):
    import c2fbench.atomic as atomic

    if not exchange:  # the path taken where renameat2 is not offered
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    data_root, out = earlier_result
    before = json.loads((out / "metrics.json").read_text())
    old_umask = os.umask(0o027)
    try:
        r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "bad", "--out", out,
                "--no-figures")
    finally:
        os.umask(old_umask)
    assert r.exit_code == 0, r.output
    after = json.loads((out / "metrics.json").read_text())
    assert after["mIoU"] < before["mIoU"]
    assert sorted(p.name for p in out.iterdir()) == ["confusion.csv", "metrics.json", "per_image.npz"]
    assert (out.stat().st_mode & 0o777) == 0o750  # mkdir's mode under the umask, not mkdtemp's 0700
    assert leftovers(tmp_path) == []
    # the files belong together: the recorded hash is the file's, and compare accepts the pair
    import hashlib

    assert after["files"]["per_image.npz"]["sha256"] == hashlib.sha256((out / "per_image.npz").read_bytes()).hexdigest()
    assert run("compare", out, out).exit_code == 0


def test_out_folder_holding_other_files_is_refused_before_scoring(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", out)
    assert_refused(r, None, str(out), "notes.txt", "new or empty folder")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# ---- models and devices ----

@pytest.fixture(scope="module")
def semantic_checkpoint(tmp_path_factory):
    """A 21-class VOC model (untrained): the wrong kind of model for the foreground benchmarks."""
    from c2fbench.models import deeplab_v2_vgg_lite, save_checkpoint
    from c2fbench.data.voc import VOC_CLASSES

    path = tmp_path_factory.mktemp("ckpt") / "voc.pt"
    save_checkpoint(path, deeplab_v2_vgg_lite(num_classes=21), arch="deeplab_v2_vgg_lite",
                    kwargs={"num_classes": 21}, classes=list(VOC_CLASSES))
    return path


@pytest.fixture(scope="module")
def foreground_checkpoint(tmp_path_factory):
    from c2fbench.models import fpn_mobilenet, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "fg.pt"
    save_checkpoint(path, fpn_mobilenet(), arch="fpn_mobilenet", kwargs={}, classes=["foreground"])
    return path


@pytest.mark.parametrize("benchmark", ["mit-subset", "mit-full"])
def test_mit_refuses_a_semantic_model(mit_tree, tmp_path, semantic_checkpoint, benchmark):
    data_root, _ = mit_tree
    r = run("eval", benchmark, "--data-root", data_root, "--model", semantic_checkpoint, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "voc.pt", "21 classes", "foreground model")
    assert not (tmp_path / "o").exists()


def test_mit_scores_a_foreground_model(mit_tree, tmp_path, foreground_checkpoint):
    data_root, _ = mit_tree
    r = run("eval", "mit-subset", "--data-root", data_root, "--model", foreground_checkpoint, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["per_class"]["Car"]["num_images"] == 3


@pytest.mark.parametrize("device, message", [("gpu", "expected cpu, cuda or cuda:N"),
                                             ("cuda", "CUDA is not available")])
def test_device_is_checked(mit_tree, tmp_path, foreground_checkpoint, device, message):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data_root, _ = mit_tree
    r = run("eval", "mit-subset", "--data-root", data_root, "--model", foreground_checkpoint, "--device", device,
            "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", f"--device {device}", message)
    assert not (tmp_path / "o").exists()


# ---- MIT masks saved by matplotlib ----

def test_mit_perfect_masks_saved_by_matplotlib_score_100(mit_tree, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data_root, masks = mit_tree
    for image_id, mask in masks.items():
        (tmp_path / "pred" / image_id).parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(tmp_path / "pred" / f"{image_id}.png", mask, cmap="gray")
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["mean_J"] == 100 and metrics["mean_P"] == 100
    # the default colormap (purple background) is refused, not scored as all foreground
    first = "Airplane100/0001"
    plt.imsave(tmp_path / "pred" / f"{first}.png", masks[first])
    r = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "v")
    assert_refused(r, tmp_path / "v", f"{first}.png", "colormap")


# ---- split files ----

@pytest.mark.parametrize("bad", ["../../outside", "/etc/hostname"])
def test_split_ids_outside_the_roots_are_refused(voc_tree, tmp_path, bad):
    data_root, voc_root, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("\n".join([*labels, bad]) + "\n")
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "val.txt", "line 6", "not an image id")


def test_split_with_bom_scores_like_without(voc_tree, tmp_path):
    data_root, voc_root, labels = voc_tree
    write_predictions(tmp_path / "pred", labels)
    args = ("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "pred", "--no-figures")
    plain = run(*args, "--out", tmp_path / "plain")
    split = voc_root / "ImageSets/Segmentation/val.txt"
    split.write_bytes(b"\xef\xbb\xbf" + split.read_bytes())
    bom = run(*args, "--out", tmp_path / "bom")
    assert plain.exit_code == 0 and bom.exit_code == 0, bom.output
    read = [json.loads((tmp_path / f / "metrics.json").read_text()) for f in ("plain", "bom")]
    assert read[0]["confusion_matrix"] == read[1]["confusion_matrix"] and read[1]["num_images"] == len(labels)


def test_split_with_a_latin1_byte_is_one_line(voc_tree, tmp_path):
    data_root, voc_root, labels = voc_tree
    (voc_root / "ImageSets/Segmentation/val.txt").write_bytes("\n".join(labels).encode() + b"\nd\xe9j\xe0\n")
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "val.txt", "line 6 is not UTF-8")


def test_out_dot_is_written_beside_its_absolute_path_or_refused_as_the_current_folder(earlier_result, tmp_path,
                                                                                       monkeypatch):
    data_root, out = earlier_result
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "bad", "--out", "../O/..")
    assert_refused(r, None, "../O/..: holds --predictions")  # "../O/.." is tmp_path, above the cwd and the inputs
    before = snapshot(out)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "bad", "--out", "../O/../O",
            "--no-figures")
    assert r.exit_code == 0, r.output
    assert snapshot(out) != before and sorted(snapshot(out)) == ["confusion.csv", "metrics.json", "per_image.npz"]
    assert leftovers(tmp_path) == [] and sorted(p.name for p in (tmp_path / "sub").iterdir()) == []
    monkeypatch.chdir(out)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "bad", "--out", ".")
    assert_refused(r, tmp_path / "nowhere", "is the current folder or holds it")


def test_mit_scores_a_background_foreground_model_as_its_predicted_masks(mit_tree, tmp_path):
    """A two-class (background, foreground) model is a foreground model too: scored through
    --model it gets what its own label maps (written by `predict`) get through --predictions."""
    import torch

    from c2fbench.models import deeplab_v2_vgg_lite, save_checkpoint

    data_root, _ = mit_tree
    torch.manual_seed(0)
    model = deeplab_v2_vgg_lite(num_classes=2)
    path = tmp_path / "bgfg.pt"
    save_checkpoint(path, model, arch="deeplab_v2_vgg_lite", kwargs={"num_classes": 2},
                    classes=["background", "foreground"])
    by_model = run("eval", "mit-subset", "--data-root", data_root, "--model", path, "--out", tmp_path / "m")
    assert by_model.exit_code == 0, by_model.output
    predicted = run("predict", "--model", path, "--images", data_root / "ObjectDiscovery" / "Data", "--out", tmp_path / "pred")
    assert predicted.exit_code == 0, predicted.output
    by_files = run("eval", "mit-subset", "--data-root", data_root, "--predictions", tmp_path / "pred",
                   "--out", tmp_path / "p")
    assert by_files.exit_code == 0, by_files.output
    a, b = (json.loads((tmp_path / f / "metrics.json").read_text()) for f in ("m", "p"))
    assert a["per_class"] == b["per_class"]


def test_mit_refuses_two_classes_that_are_not_background_and_foreground(mit_tree, tmp_path):
    from c2fbench.models import deeplab_v2_vgg_lite, save_checkpoint

    data_root, _ = mit_tree
    path = tmp_path / "catdog.pt"
    save_checkpoint(path, deeplab_v2_vgg_lite(num_classes=2), arch="deeplab_v2_vgg_lite", kwargs={"num_classes": 2},
                    classes=["cat", "dog"])
    r = run("eval", "mit-subset", "--data-root", data_root, "--model", path, "--out", tmp_path / "o")
    assert_refused(r, tmp_path / "o", "catdog.pt", "2 classes", "foreground model")


def test_background_only_predictions_are_warned_about(voc_tree, mit_tree, tmp_path):
    from conftest import save_palette_png

    data_root, _, labels = voc_tree
    for image_id, label in labels.items():
        save_palette_png(tmp_path / "zeros" / f"{image_id}.png", np.zeros_like(label))
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "zeros")
    assert r.exit_code == 0 and "no object on any image" in r.output, r.output
    write_predictions(tmp_path / "some", labels, corrupt_rate=0.3)
    r = run("eval", "voc-val", "--data-root", data_root, "--predictions", tmp_path / "some")
    assert r.exit_code == 0 and "no object" not in r.output, r.output
    mit_root, masks = mit_tree
    for image_id, mask in masks.items():
        path = tmp_path / "empty" / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros(mask.shape, np.uint8)).save(path)
    r = run("eval", "mit-subset", "--data-root", mit_root, "--predictions", tmp_path / "empty")
    assert r.exit_code == 0 and "no object on any image" in r.output, r.output


@pytest.mark.parametrize("benchmark", ["voc-val", "mit-subset"])
def test_ground_truth_with_nothing_to_score_is_refused_not_written_as_null(voc_tree, mit_tree, tmp_path, benchmark):
    """Every VOC pixel void, or no Object Discovery mask with an object: the headline is
    undefined. Writing it as null made a metrics.json that report and compare refuse."""
    from conftest import save_palette_png

    if benchmark == "voc-val":
        data_root, voc_root, labels = voc_tree
        for image_id, label in labels.items():
            save_palette_png(voc_root / "SegmentationClass" / f"{image_id}.png", np.full_like(label, 255))
        write_predictions(tmp_path / "pred", labels)
        words = "every ground-truth pixel of voc-val is void"
    else:
        data_root, masks = mit_tree
        for image_id, mask in masks.items():
            folder, name = image_id.split("/")
            empty = Image.fromarray(np.zeros(mask.shape, np.uint8))
            empty.save(data_root / "ObjectDiscovery" / "Data" / folder / "GroundTruth" / f"{name}.png")
            (tmp_path / "pred" / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "pred" / folder / f"{name}.png")
        words = "no ground-truth mask of mit-subset holds any foreground"
    result = run("eval", benchmark, "--data-root", data_root, "--predictions", tmp_path / "pred", "--bootstrap", "20",
                 "--out", tmp_path / "out")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and words in last, last
    assert not (tmp_path / "out").exists()
