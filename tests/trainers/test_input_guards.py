"""Issue 25, the training side: deeply nested JSON, a one-class classifier, a finished
classifier resumed with other options, and outputs that collide with inputs. Each refusal is
one line (exit 2) that names the file or folder, and leaves what the user had as it was."""

import numpy as np
import pytest
from PIL import Image

from c2fbench.errors import InputError
from cli_helpers import assert_refused, run
from trainers.rundir import read_log

AIRPLANE, BICYCLE = "n02690373", "n02835271"  # VOC classes 1 and 2 in voc_synsets.json
SMALL = ["--arch", "deeplab_v2_mobilenet_small", "--resize", "24", "--crop", "16", "--holdout", "2",
         "--batch-size", "4", "--threads", "1"]


def _imagenet(root, wnids, per_class=4):
    """``root/train/<wnid>/<wnid>_<k>.JPEG``: random 20x20 images."""
    rng = np.random.default_rng(3)
    for wnid in wnids:
        (root / "train" / wnid).mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(
                root / "train" / wnid / f"{wnid}_{k}.JPEG")
    return root


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- item 1: JSON nested deeply --------------------------------------------------------------

@pytest.mark.parametrize("depth", [40, 990, 100_000])
@pytest.mark.parametrize("command", ["deeplab", "dfpn"])
def test_a_deeply_nested_config_is_one_line(tmp_path, depth, command):
    """990 and 100,000 levels were RecursionError tracebacks (in the parser or after it);
    whichever stops it, the answer is one line naming the file."""
    config = tmp_path / "deep.json"
    config.write_text('{"epochs": ' + _nested(depth) + "}")
    result = run("train", command, "--config", config, "--print-config")
    assert_refused(result, None, f"error: {config}: ", "JSON")
    if depth == 40:  # the parser takes it; the depth bound refuses it
        assert "nested more than 32 levels" in result.output


def test_a_deeply_nested_log_line_is_named_on_resume(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"round": 1}\n' + _nested(100_000) + "\n")
    with pytest.raises(InputError, match=r"metrics\.jsonl, line 2: .*delete the line") as caught:
        read_log(tmp_path)
    assert "\n" not in str(caught.value)


# -- item 4: a classifier of one class --------------------------------------------------------

def test_a_classifier_of_one_class_is_refused(tmp_path):
    images = _imagenet(tmp_path / "imagenet", [AIRPLANE])
    out = tmp_path / "bb.pt"
    result = run("train", "classifier", "--images", images, "--out", out, "--epochs", "1", *SMALL)
    assert_refused(result, None, str(images), "1 class (aeroplane)", "at least 2 classes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imagenet"]


# -- item 5: a finished classifier resumed with other options ----------------------------------

def test_a_finished_classifier_resumed_with_other_epochs_is_refused_as_a_partial_one_is(tmp_path):
    images = _imagenet(tmp_path / "imagenet", [AIRPLANE, BICYCLE])
    out = tmp_path / "bb.pt"
    args = ["train", "classifier", "--images", images, "--out", out, *SMALL]
    assert run(*args, "--epochs", "1").exit_code == 0
    finished = out.read_bytes()

    result = run(*args, "--epochs", "2", "--resume")
    assert_refused(result, None, f"{out}: was trained with epochs 1, this run gives 2")
    assert out.read_bytes() == finished and not (tmp_path / "bb.pt.partial").exists()

    same = run(*args, "--epochs", "1", "--resume")  # the same options: the finished file, as it is
    assert same.exit_code == 0 and "epoch 1)" in same.output, same.output
    assert out.read_bytes() == finished

    out.rename(tmp_path / "bb.pt.partial")  # the same file as an unfinished run: the same refusal
    result = run(*args, "--epochs", "2", "--resume")
    assert_refused(result, None, f"{out}.partial: was started with epochs 1, this run gives 2")


# -- item 6: an output that is, lies inside or holds an input ----------------------------------

@pytest.mark.parametrize("command", ["deeplab", "dfpn"])
@pytest.mark.parametrize("case", ["config", "backbone", "student", "val", "images", "holds-images"])
def test_a_run_directory_apart_from_every_input(tmp_path, command, case):
    data = tmp_path / "data"
    (data / "imagenet" / "train").mkdir(parents=True)
    (data / "ObjectDiscovery").mkdir()
    images = data / "imagenet" if command == "deeplab" else data / "imagenet" / "train"
    out = tmp_path / "run"
    out.mkdir()
    (out / "c.json").write_text('{"epochs": 1}')
    (out / "w.pt").write_bytes(b"weights")
    extra, fragment = {
        "config": (["--config", out / "c.json"], f"holds --config {out / 'c.json'}"),
        "backbone": (["--backbone-weights", out / "w.pt"], f"holds --backbone-weights {out / 'w.pt'}"),
        "student": (["--coarse-method", "student", "--student-weights", out / "w.pt"],
                    f"holds --student-weights {out / 'w.pt'}"),
        "val": (["--val-root", out.parent], f"lies inside --val-root {out.parent}"),
        "images": ([], None),
        "holds-images": ([], None),
    }[case]
    if case == "images":
        out = images / "run"
        fragment = f"--out {out}: lies inside the training images {images}"
    if case == "holds-images":
        out = data
        fragment = f"--out {data}: holds the training images {images}"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    option = "--imagenet" if command == "deeplab" else "--images"
    result = run("train", command, option, images, "--out", out, "--recipe", "tiny" if command == "deeplab"
                 else "dfpn-tiny", "--threads", 1, *extra)
    assert_refused(result, None, fragment)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_branch_inside_its_source_is_refused(tmp_path):
    source = tmp_path / "a"
    source.mkdir()
    result = run("train", "deeplab", "--imagenet", tmp_path / "data", "--out", source / "b", "--branch-from", source,
                 "--rounds", 2)
    assert_refused(result, None, f"--out {source / 'b'}: lies inside --branch-from {source}")
    assert sorted(source.iterdir()) == []


def test_a_classifier_output_inside_its_images_is_refused(tmp_path):
    images = _imagenet(tmp_path / "imagenet", [AIRPLANE, BICYCLE], per_class=2)
    out = images / "train" / "bb.pt"
    result = run("train", "classifier", "--images", images, "--out", out, "--epochs", "1", *SMALL)
    assert_refused(result, None, f"--out {out}: lies inside --images {images}")
    assert not out.exists()


def test_a_student_output_inside_its_images_is_refused(tmp_path):
    images = _imagenet(tmp_path / "imagenet", [AIRPLANE], per_class=2) / "train"
    out = images / "student.pt"
    result = run("masks", "student-train", "--images", images, "--out", out, "--width", 4, "--epochs", 1)
    assert_refused(result, None, f"--out {out}: lies inside --images {images}")
    assert not out.exists()


def test_student_weights_inside_the_masks_output_are_refused(tmp_path):
    images = _imagenet(tmp_path / "imagenet", [AIRPLANE], per_class=2) / "train"
    out = tmp_path / "coarse"
    out.mkdir()
    student = tmp_path / "student.pt"
    assert run("masks", "student-train", "--images", images, "--out", student, "--width", 4, "--epochs", 1,
               "--batch-size", 2, "--head-channels", 4).exit_code == 0
    student.rename(out / "student.pt")
    result = run("masks", "coarse", "--images", images, "--out", out, "--method", "student", "--weights",
                 out / "student.pt", "--workers", 1)
    assert_refused(result, None, f"--out {out}: holds --weights {out / 'student.pt'}")
    assert sorted(p.name for p in out.iterdir()) == ["student.pt"]
