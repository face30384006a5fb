"""``c2fbench masks coarse | enhance | labels`` on the tiny synthetic preset: outputs,
workers and shards identical to one process, kill-and-resume, bad images."""

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from c2fbench.cli.main import cli
from c2fbench.data.images import list_images
from c2fbench.masks.enhance import EnhanceJob
from c2fbench.masks.runner import Shard, run_job


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Tiny ImageNet tree (a copy of 3 classes) with its coarse masks."""
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("masks")
    write_synth(root / "synth", preset="tiny", seed=1)
    images = root / "images"
    for folder in sorted((root / "synth" / "imagenet" / "train").iterdir())[:3]:
        shutil.copytree(folder, images / folder.name)
    result = run("masks", "coarse", "--images", images, "--out", root / "coarse", "--workers", 1,
                 "--soft-out", root / "soft")
    assert result.exit_code == 0, result.output
    return root, images


def tree_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_coarse_writes_one_binary_mask_and_soft_map_per_image(tree):
    root, images = tree
    ids = list_images(images)
    assert sorted(tree_bytes(root / "coarse")) == [f"{i}.png" for i in ids]
    assert sorted(tree_bytes(root / "soft")) == [f"{i}.png" for i in ids]
    mask = np.asarray(Image.open(root / "coarse" / f"{ids[0]}.png"))
    assert set(np.unique(mask)) <= {0, 255} and mask.shape == Image.open(images / f"{ids[0]}.JPEG").size[::-1]
    summary = json.loads((root / "coarse" / "summary.json").read_text())
    assert summary["done"] == len(ids) and summary["failed"] == 0


def test_enhance_with_two_workers_matches_one_process_byte_for_byte(tree, tmp_path):
    root, images = tree
    for workers in (1, 2):
        result = run("masks", "enhance", "--images", images, "--coarse", root / "coarse", "--out",
                     tmp_path / f"w{workers}", "--workers", workers)
        assert result.exit_code == 0, result.output
    one, two = tree_bytes(tmp_path / "w1"), tree_bytes(tmp_path / "w2")
    assert len(one) == len(list_images(images)) and one == two


def test_shards_merge_into_the_unsharded_output(tree, tmp_path):
    root, images = tree
    common = ("masks", "enhance", "--images", images, "--coarse", root / "coarse", "--workers", 1)
    assert run(*common, "--out", tmp_path / "all").exit_code == 0
    assert run(*common, "--out", tmp_path / "sharded", "--shard", "0/2").exit_code == 0
    partial = tree_bytes(tmp_path / "sharded")
    assert 0 < len(partial) < len(tree_bytes(tmp_path / "all"))
    # the second share as torchrun would launch it
    assert run(*common, "--out", tmp_path / "sharded", env={"RANK": "1", "WORLD_SIZE": "2"}).exit_code == 0
    assert tree_bytes(tmp_path / "sharded") == tree_bytes(tmp_path / "all")
    assert (tmp_path / "sharded" / "summary-1-of-2.json").is_file()


class CountingJob:
    """Writes <id>.png; ids ending in an odd digit report the event "odd"."""

    name = "counting"

    def __init__(self, out):
        self.out = out

    def outputs(self, image_id):
        return [self.out / f"{image_id}.png"]

    def process(self, image_id):
        from c2fbench.atomic import atomic_write_bytes
        from c2fbench.masks.runner import ItemResult

        atomic_write_bytes(self.outputs(image_id)[0], b"x")
        return ItemResult(image_id, "done", stat="odd" if int(image_id[-1]) % 2 else None)


def test_events_of_outputs_finished_earlier_survive_a_resume(tmp_path):
    ids = [f"img{k}" for k in range(10)]
    job = CountingJob(tmp_path / "out")
    seen = {"n": 0}

    def kill_after_four(n):  # the 4th id, img3, reports an event as the interrupt comes
        seen["n"] += n
        if seen["n"] >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(job, ids, out=tmp_path / "out", advance=kill_after_four)
    resumed = run_job(job, ids, out=tmp_path / "out")
    assert resumed.done < len(ids) and resumed.stats == {"odd": 5}  # 5 odd ids in all, whichever call did them
    again = run_job(job, ids, out=tmp_path / "out")  # everything exists: nothing done, events kept
    assert again.done == 0 and again.skipped_existing == len(ids) and again.stats == {"odd": 5}
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["stats"] == {"odd": 5}
    (tmp_path / "out" / "img1.png").unlink()  # an output removed by hand is made again, its event counted once
    redone = run_job(job, ids, out=tmp_path / "out")
    assert redone.done == 1 and redone.stats == {"odd": 5}


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_files(tree, tmp_path):
    root, images = tree
    ids = list_images(images)
    job = EnhanceJob(images, root / "coarse", tmp_path / "resumed", iterations=2)
    done = {"n": 0}

    def kill_after_four(n):
        done["n"] += n
        if done["n"] >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(job, ids, out=tmp_path / "resumed", advance=kill_after_four)
    finished = tree_bytes(tmp_path / "resumed")
    assert 0 < len(finished) < len(ids)
    stale = tmp_path / "resumed" / ids[-1].split("/")[0] / f".{ids[-1].split('/')[1]}.png.abc123.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a png")  # what a kill in the middle of a write leaves
    os.utime(stale, (0, 0))  # long ago: no live run is writing it
    summary = run_job(job, ids, out=tmp_path / "resumed")
    assert summary.skipped_existing == len(finished) and summary.done == len(ids) - len(finished)
    run_job(EnhanceJob(images, root / "coarse", tmp_path / "straight", iterations=2), ids, out=tmp_path / "straight")
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "straight")
    assert not list((tmp_path / "resumed").rglob("*.tmp"))


def test_a_corrupt_image_is_named_counted_and_skipped_unless_strict(tree, tmp_path):
    root, images = tree
    broken = tmp_path / "images"
    shutil.copytree(images, broken)
    victim = sorted(broken.rglob("*.JPEG"))[1]
    victim.write_bytes(victim.read_bytes()[:200])
    result = run("masks", "coarse", "--images", broken, "--out", tmp_path / "c", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert victim.name in result.output
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["failed"] == 1 and summary["done"] == len(list_images(images)) - 1
    strict = run("masks", "coarse", "--images", broken, "--out", tmp_path / "s", "--workers", 1, "--strict")
    assert strict.exit_code == 2 and victim.name in strict.output and "Traceback" not in strict.output


def test_labels_put_the_folder_class_on_the_foreground(tree, tmp_path):
    from c2fbench.data.imagenet import wnid_to_voc_label
    from c2fbench.data.png import read_label_png

    root, images = tree
    result = run("masks", "labels", "--masks", root / "coarse", "--out", tmp_path / "labels", "--workers", 1)
    assert result.exit_code == 0, result.output
    classes = wnid_to_voc_label()
    for image_id in list_images(images):
        mask = np.asarray(Image.open(root / "coarse" / f"{image_id}.png")) > 0
        label = read_label_png(tmp_path / "labels" / f"{image_id}.png")
        expected = np.where(mask, classes[image_id.split("/")[0]], 0)
        np.testing.assert_array_equal(label, expected)
        assert Image.open(tmp_path / "labels" / f"{image_id}.png").mode == "P"


def test_coarse_masks_from_a_trained_student(tree, tmp_path):
    from c2fbench.masks.student_train import train_student

    root, images = tree
    train_student(images, tmp_path / "student.pt", epochs=1, width=4, head_channels=2, batch_size=4)
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "c", "--method", "student",
                 "--weights", tmp_path / "student.pt", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert len(tree_bytes(tmp_path / "c")) == len(list_images(images))


@pytest.mark.parametrize("args, fragment", [
    (("--shard", "3/2"), "--shard '3/2'"),
    (("--method", "student"), "needs --weights"),
    (("--threshold", "2"), "--threshold"),
])
def test_bad_options_exit_2_with_one_line(tree, tmp_path, args, fragment):
    _, images = tree
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2 and fragment in result.output, result.output


def test_missing_folders_exit_2(tmp_path):
    assert run("masks", "coarse", "--images", tmp_path / "nope", "--out", tmp_path / "o").exit_code == 2
    (tmp_path / "imgs").mkdir()
    result = run("masks", "enhance", "--images", tmp_path / "imgs", "--coarse", tmp_path / "nope", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "nope" in result.output


def test_shard_parsing():
    assert Shard.resolve("1/4").take(list(range(10))) == [1, 5, 9]


@pytest.mark.parametrize("args, fragment", [
    (["coarse", "--images", "{images}", "--out", "{images}"], "--out {images}: is --images"),
    (["coarse", "--images", "{images}", "--out", "{images}/masks"], "--out {images}/masks: lies inside --images"),
    (["coarse", "--images", "{images}", "--out", "{tmp}/c", "--soft-out", "{images}/soft"],
     "--soft-out {images}/soft: lies inside --images"),
    (["coarse", "--images", "{images}", "--out", "{tmp}/c", "--soft-out", "{tmp}/c"], "--soft-out {tmp}/c: is --out"),
    (["coarse", "--images", "{images}", "--out", "{tmp}/c", "--soft-out", "{tmp}/c/soft"],
     "--soft-out {tmp}/c/soft: lies inside --out"),
    (["enhance", "--images", "{images}", "--coarse", "{coarse}", "--out", "{coarse}"], "--out {coarse}: is --coarse"),
    (["enhance", "--images", "{images}", "--coarse", "{coarse}", "--out", "{images}/.."], "holds --images"),
    (["labels", "--masks", "{coarse}", "--out", "{coarse}/labels"], "--out {coarse}/labels: lies inside --masks"),
])
def test_an_output_folder_in_an_input_folder_is_refused_before_writing(tree, tmp_path, args, fragment):
    """The image tree and the coarse masks are left byte for byte as they were."""
    root, images = tree
    names = {"images": images, "coarse": root / "coarse", "tmp": tmp_path}
    before = {folder: sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*") if p.is_file())
              for folder in (images, root / "coarse")}
    result = run("masks", *[a.format(**names) for a in args], "--workers", 1)
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error:") and fragment.format(**names) in line, line
    for folder, files in before.items():
        assert sorted((p.relative_to(folder), p.read_bytes()) for p in folder.rglob("*") if p.is_file()) == files
    assert not (tmp_path / "c").exists()


def test_weights_without_the_student_method_are_refused(tree, tmp_path):
    root, images = tree
    (tmp_path / "s.pt").write_bytes(b"x")
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "c", "--weights", tmp_path / "s.pt")
    assert result.exit_code == 2 and "for --method student" in result.output, result.output
    assert not (tmp_path / "c").exists()
