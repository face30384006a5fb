"""``c2fbench submit voc-test``: the archive read back with tarfile and PIL, and every refusal
leaving nothing at --out."""

import io
import re
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from c2fbench.data.png import voc_colormap
from cli_helpers import assert_refused, run
from conftest import save_palette_png

SIZES = {"2008_000001": (37, 29), "2008_000002": (50, 40), "2009_000003": (23, 44), "2010_000004": (31, 31)}  # W, H


@pytest.fixture
def voc_test(tmp_path):
    """A VOC2012 test set (JPEGs and test.txt, no labels, as VOC2012test.tar ships it) and
    random predictions for it, half palette PNGs (not VOC's palette), half grayscale.

    Returns (data_root, predictions folder, {id: (H, W) uint8}).
    """
    rng = np.random.default_rng()
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "test.txt").write_text("".join(f"{i}\n" for i in SIZES))
    preds, folder = {}, tmp_path / "pred"
    folder.mkdir()
    for k, (image_id, (w, h)) in enumerate(SIZES.items()):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        preds[image_id] = rng.integers(0, 21, (h, w), dtype=np.uint8)
        if k % 2:
            Image.fromarray(preds[image_id], mode="L").save(folder / f"{image_id}.png")
        else:
            save_palette_png(folder / f"{image_id}.png", preds[image_id])
    return tmp_path / "VOCdevkit", folder, preds


def submit(data_root, predictions, out, *extra):
    return run("submit", "voc-test", "--data-root", data_root, "--predictions", predictions, "--out", out, *extra)


def refused(result, *fragments):
    """``assert_refused`` once the progress lines of the images packed before the bad one are dropped."""
    lines = [line for line in result.output.splitlines() if not re.match(r"submit voc-test: \d+/\d+ ", line)]
    assert_refused(SimpleNamespace(exit_code=result.exit_code, output="\n".join(lines)), None, *fragments)


def assert_nothing_written(out):
    """No archive at ``out`` and no temporary file beside it."""
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []


@pytest.mark.parametrize("competition", ["comp6", "comp5"])
def test_submission_round_trips_in_the_server_layout(voc_test, tmp_path, competition):
    data_root, predictions, preds = voc_test
    out = tmp_path / "submission.tar.gz"
    extra = () if competition == "comp6" else ("--competition", "comp5")
    result = submit(data_root, predictions, out, *extra)
    assert result.exit_code == 0, result.output
    assert "packed 4 predictions" in result.output
    folder = f"results/VOC2012/Segmentation/{competition}_test_cls"
    with tarfile.open(out, "r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["results", "results/VOC2012", "results/VOC2012/Segmentation", folder] + \
            [f"{folder}/{i}.png" for i in SIZES]
        assert all(m.isdir() for m in members[:4]) and all(m.isfile() for m in members[4:])
        for image_id, pred in preds.items():
            im = Image.open(io.BytesIO(tar.extractfile(f"{folder}/{image_id}.png").read()))
            assert im.format == "PNG" and im.mode == "P" and im.size == SIZES[image_id]
            np.testing.assert_array_equal(np.asarray(im), pred)
            palette = np.array(im.getpalette(), dtype=np.uint8).reshape(-1, 3)
            np.testing.assert_array_equal(palette, voc_colormap(len(palette)))


def test_accepts_voc2012_root_and_force_replaces(voc_test, tmp_path):
    data_root, predictions, _ = voc_test
    out = tmp_path / "submission.tar.gz"
    out.write_bytes(b"an earlier archive")
    refused(submit(data_root / "VOC2012", predictions, out), str(out), "exists already", "--force")
    assert out.read_bytes() == b"an earlier archive"
    result = submit(data_root / "VOC2012", predictions, out, "--force")
    assert result.exit_code == 0, result.output
    with tarfile.open(out, "r:gz") as tar:
        assert len(tar.getnames()) == 4 + len(SIZES)


def test_missing_predictions_are_counted_and_named(voc_test, tmp_path):
    data_root, predictions, _ = voc_test
    (predictions / "2008_000002.png").unlink()
    (predictions / "2010_000004.png").unlink()
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), "2 of 4 predictions missing",
                   "first: 2008_000002, 2010_000004", "test.txt")
    assert_nothing_written(out)


def test_extra_predictions_are_refused(voc_test, tmp_path):
    data_root, predictions, preds = voc_test
    save_palette_png(predictions / "2007_000032.png", preds["2008_000001"])
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), "1 PNG file is not in", "2007_000032.png")
    assert_nothing_written(out)


def test_wrong_size_names_the_id_and_both_sizes_and_leaves_nothing(voc_test, tmp_path):
    """The last id is the wrong one, so the archive is well under way when it is refused."""
    data_root, predictions, _ = voc_test
    Image.fromarray(np.zeros((31, 30), dtype=np.uint8), mode="L").save(predictions / "2010_000004.png")
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), "2010_000004.png", "30x31", "image 2010_000004 is 31x31")
    assert_nothing_written(out)


@pytest.mark.parametrize("value, words", [(255, "value 255 (void"), (21, "value 21 (not a VOC class)")])
def test_values_outside_the_classes_are_refused(voc_test, tmp_path, value, words):
    data_root, predictions, preds = voc_test
    pred = preds["2009_000003"].copy()
    pred[np.random.default_rng().integers(0, pred.shape[0]), 3] = value
    save_palette_png(predictions / "2009_000003.png", pred)
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), "2009_000003.png", words, "0..20")
    assert_nothing_written(out)


@pytest.mark.parametrize("kind, words", [("rgb", "single-channel"), ("jpeg", "expected a PNG")])
def test_colour_and_non_png_predictions_are_refused(voc_test, tmp_path, kind, words):
    data_root, predictions, preds = voc_test
    colours = voc_colormap()[preds["2008_000001"]]
    Image.fromarray(colours).save(predictions / "2008_000001.png", format="PNG" if kind == "rgb" else "JPEG")
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), "2008_000001.png", words)
    assert_nothing_written(out)


def test_bad_out_and_data_root_are_refused(voc_test, tmp_path):
    data_root, predictions, _ = voc_test
    refused(submit(data_root, predictions, tmp_path / "no" / "s.tar.gz"), "not found", "create it first")
    assert not (tmp_path / "no").exists()
    refused(submit(data_root, predictions, tmp_path))  # a folder
    (data_root / "VOC2012" / "ImageSets" / "Segmentation" / "test.txt").unlink()
    refused(submit(data_root, predictions, tmp_path / "s.tar.gz"), "test.txt", "VOC2012test.tar")
    refused(submit(tmp_path / "nowhere", predictions, tmp_path / "s.tar.gz"), "data root not found")
    assert_nothing_written(tmp_path / "s.tar.gz")


def test_an_interrupted_write_leaves_the_earlier_archive(voc_test, tmp_path, monkeypatch):
    """Ctrl-C after two images are packed: --out keeps the earlier archive, no temporary file stays."""
    import c2fbench.data.png as png

    data_root, predictions, _ = voc_test
    out = tmp_path / "submission.tar.gz"
    out.write_bytes(b"an earlier archive")
    encode, calls = png.encode_label_png, []

    def interrupted(label):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return encode(label)

    monkeypatch.setattr(png, "encode_label_png", interrupted)
    result = submit(data_root, predictions, out, "--force")
    assert result.exit_code != 0 and len(calls) == 3
    assert out.read_bytes() == b"an earlier archive"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["VOCdevkit", "pred", "submission.tar.gz"]


def test_a_full_disk_is_one_line_and_leaves_nothing(voc_test, tmp_path, full_disk):
    data_root, predictions, _ = voc_test
    out = tmp_path / "submission.tar.gz"
    refused(submit(data_root, predictions, out), str(out), "could not write")
    assert_nothing_written(out)


def test_submit_is_listed_without_loading_numpy():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from c2fbench.cli.main import cli; "
            "r = CliRunner().invoke(cli, ['submit', 'voc-test', '--help']); "
            "print(r.exit_code, 'numpy' in sys.modules, 'comp6_test_cls' in r.output or 'comp>_test_cls' in r.output)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0 False True"


def tree_bytes(root):
    """Every file under ``root`` with its bytes (links read through): the oracle that nothing changed."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", ["prediction", "jpeg", "split", "link to a prediction", "inside predictions"])
def test_force_never_writes_the_archive_over_an_input(voc_test, tmp_path, target):
    """Issue 25: --out naming a prediction PNG, a test JPEG or test.txt, with --force, replaced
    that input by the archive."""
    data_root, predictions, _ = voc_test
    voc = data_root / "VOC2012"
    if target == "link to a prediction":
        (tmp_path / "sub.tar.gz").symlink_to(predictions / "2008_000002.png")
    out = {"prediction": predictions / "2008_000001.png", "jpeg": voc / "JPEGImages" / "2009_000003.jpg",
           "split": voc / "ImageSets" / "Segmentation" / "test.txt", "link to a prediction": tmp_path / "sub.tar.gz",
           "inside predictions": predictions / "submission.tar.gz"}[target]
    before = tree_bytes(tmp_path)
    result = submit(data_root, predictions, out, "--force")
    refused(result, f"--out {out}:")
    assert tree_bytes(tmp_path) == before
    assert [p.name for p in tmp_path.rglob(".*.tmp")] == []


def test_a_test_jpeg_linked_to_out_is_refused(voc_test, tmp_path):
    """A test image may be a link to a file elsewhere; --out naming that file is the image."""
    data_root, predictions, _ = voc_test
    jpeg = data_root / "VOC2012" / "JPEGImages" / "2010_000004.jpg"
    elsewhere = tmp_path / "elsewhere.jpg"
    jpeg.rename(elsewhere)
    jpeg.symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    refused(submit(data_root, predictions, elsewhere, "--force"), "is the test image of 2010_000004")
    assert elsewhere.read_bytes() == before


def test_a_partial_archive_of_a_killed_run_is_removed_by_the_next(voc_test, tmp_path):
    """kill -9 mid-write leaves .submission.tar.gz.<pid>-<random>.tmp; the next run removes
    it when its process is gone, and leaves a live run's alone."""
    import os
    import subprocess
    import sys

    data_root, predictions, _ = voc_test
    out = tmp_path / "submission.tar.gz"
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)
    stale = tmp_path / f".submission.tar.gz.{pid}-k1ll3d.tmp"
    stale.write_bytes(b"\x1f\x8b" + b"\0" * (1 << 20))
    live = tmp_path / f".submission.tar.gz.{os.getpid()}-l1ve.tmp"
    live.write_bytes(b"busy")
    result = submit(data_root, predictions, out)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.read_bytes() == b"busy"
    with tarfile.open(out, "r:gz") as tar:
        assert len(tar.getnames()) == 4 + len(SIZES)
