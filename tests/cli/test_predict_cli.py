"""``c2fbench predict`` through click's CliRunner: label maps against the model run by hand,
every image checked before the first write, GroundTruth folders skipped, --device, --help."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from PIL import Image


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from deploy_helpers import write_checkpoint  # noqa: E402
from cli_helpers import assert_refused, run


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("predict") / "m.pt"
    write_checkpoint(path, "deeplab_v2_vgg_lite", 3)
    return path


def write_images(folder: Path, names, seed=0):
    rng = np.random.default_rng(seed)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / name)


def by_hand(ckpt, path):
    """The label map of ``path``: the checkpoint's weights run by torch, normalised with numpy."""
    payload = torch.load(ckpt, weights_only=True)
    from c2fbench.models import build_model

    model = build_model(payload["arch"], **{**payload["kwargs"], "pretrained_backbone": False}).eval()
    model.load_state_dict(payload["state_dict"])
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    norm = payload["normalization"]
    x = (rgb - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0]
    return logits.argmax(0).numpy().astype(np.uint8)


def test_predict_writes_the_models_labels(ckpt, tmp_path):
    write_images(tmp_path / "img", ["a.jpg", "sub/b.png"])
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    for name, source in (("a", "a.jpg"), ("sub/b", "sub/b.png")):
        got = np.asarray(Image.open(tmp_path / "pred" / f"{name}.png"))
        np.testing.assert_array_equal(got, by_hand(ckpt, tmp_path / "img" / source))


def test_a_corrupt_image_stops_predict_before_anything_is_written(ckpt, tmp_path):
    write_images(tmp_path / "img", ["a.jpg", "b.jpg", "c.jpg"])
    (tmp_path / "img" / "c.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # sorted last
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert_refused(result, tmp_path / "pred", "c.jpg", "unreadable or corrupt image")


def test_a_corrupt_image_found_only_by_decoding_stops_predict_before_anything_is_written(ckpt, tmp_path):
    write_images(tmp_path / "img", ["a.jpg", "b.jpg", "c.jpg"])
    data = (tmp_path / "img" / "c.jpg").read_bytes()
    (tmp_path / "img" / "c.jpg").write_bytes(data[: len(data) * 3 // 4])  # header intact, data cut
    with Image.open(tmp_path / "img" / "c.jpg") as im:  # the premise: only decoding finds it
        assert im.size == (32, 24)
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert_refused(result, tmp_path / "pred", "c.jpg", "corrupt image")


def test_groundtruth_folders_are_not_predicted(ckpt, mit_tree, tmp_path):
    data_root, masks = mit_tree
    data = data_root / "ObjectDiscovery" / "Data"
    result = run("predict", "--model", ckpt, "--images", data, "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path / "pred").with_suffix("").as_posix()
                     for p in (tmp_path / "pred").rglob("*.png"))
    assert written == sorted(masks)  # one per image, none for GroundTruth/*.png
    assert "skipped 18 images in GroundTruth folders" in result.output
    result = run("predict", "--model", ckpt, "--images", data / "Car" / "GroundTruth" / "..", "--out",
                 tmp_path / "car")
    assert result.exit_code == 0 and len(list((tmp_path / "car").iterdir())) == 3


def test_only_ground_truth_is_refused(ckpt, tmp_path):
    write_images(tmp_path / "img", ["GroundTruth/a.png"])
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert_refused(result, tmp_path / "pred", "only ground-truth masks found")


@pytest.mark.parametrize("device, words", [
    ("gpu", "--device gpu: expected cpu, cuda or cuda:N"),
    pytest.param("cuda", "--device cuda: CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_device_is_checked_first(ckpt, tmp_path, device, words):
    write_images(tmp_path / "img", ["a.jpg"])
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred",
                 "--device", device)
    assert_refused(result, tmp_path / "pred", words)


def test_help_describes_every_option_and_gives_examples():
    from c2fbench.cli.predict import predict

    assert [p.name for p in predict.params if isinstance(p, click.Option) and not p.help] == []
    result = run("predict", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output and "c2fbench predict --model" in result.output
    assert re.search(r"--images DIRECTORY\s+Folder of images", result.output)
    assert "--classes" in result.output and "torchvision:NAME" in result.output


def test_a_full_disk_is_one_line_and_leaves_no_out_folder(ckpt, tmp_path, request):
    write_images(tmp_path / "img", ["sub/a.jpg", "sub/b.jpg"])
    request.getfixturevalue("full_disk")  # from here on, every file's fsync fails
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert_refused(result, tmp_path / "pred", "sub/a.png", "No space left on device")
    assert not (tmp_path / "pred").exists()


@pytest.mark.parametrize("where", ["images", "inside images", "holds images", "holds model"])
def test_out_is_never_an_input(ckpt, tmp_path, where):
    """Issue 25: label maps written into --images itself replace its .png images of the same
    name; --out is checked against --images and --model before anything runs."""
    import shutil

    write_images(tmp_path / "data" / "img", ["a.png", "b.jpg"])
    model = tmp_path / "data" / "m.pt"
    shutil.copy(ckpt, model)
    if where == "holds model":
        model = shutil.move(model, tmp_path / "m.pt")
    out = {"images": tmp_path / "data" / "img", "inside images": tmp_path / "data" / "img" / "pred",
           "holds images": tmp_path / "data", "holds model": tmp_path}[where]
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    result = run("predict", "--model", model, "--images", tmp_path / "data" / "img", "--out", out)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {out}:"), result.output
    after = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert after == before


def test_a_temporary_of_a_killed_run_is_removed_by_the_next(ckpt, tmp_path):
    import os
    import subprocess

    write_images(tmp_path / "img", ["sub/a.jpg"])
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)
    (tmp_path / "pred" / "sub").mkdir(parents=True)
    stale = tmp_path / "pred" / "sub" / f".a.png.{pid}-k1ll3d.tmp"
    stale.write_bytes(b"partial")
    live = tmp_path / "pred" / "sub" / f".a.png.{os.getpid()}-l1ve.tmp"
    live.write_bytes(b"busy")
    result = run("predict", "--model", ckpt, "--images", tmp_path / "img", "--out", tmp_path / "pred")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists() and (tmp_path / "pred" / "sub" / "a.png").is_file()
