"""Masks output folders stay honest across reruns: options recorded and enforced, events
journaled through a SIGKILL, one live run per shard, failures listed, bad shards refused."""

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from c2fbench.masks.record import failed_ids
from c2fbench.masks.runner import Shard

WNID = "n02690373"  # airplane in voc_synsets.json


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def one_line_error(result, *fragments):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def snapshot(folder):
    """Every file under ``folder`` (hidden ones too) with its bytes and mtime."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def images(tmp_path):
    """Four small JPEGs of a bright square on a darker random background."""
    rng = np.random.default_rng()
    root = tmp_path / "images"
    (root / WNID).mkdir(parents=True)
    for k in range(4):
        rgb = rng.integers(0, 80, size=(40, 48, 3), dtype=np.uint8)
        rgb[10:30, 12:36] = 230
        Image.fromarray(rgb).save(root / WNID / f"{WNID}_{k}.JPEG", quality=95)
    return root


def coarse(images, out, *extra):
    result = run("masks", "coarse", "--images", images, "--out", out, "--workers", 1, *extra)
    assert result.exit_code == 0, result.output
    return out


# -- item 1: options recorded and enforced ----------------------------------------------------

def test_enhance_rerun_with_another_box_is_refused_and_changes_nothing(images, tmp_path):
    masks = coarse(images, tmp_path / "coarse")
    common = ("masks", "enhance", "--images", images, "--coarse", masks, "--out", tmp_path / "e", "--workers", 1)
    assert run(*common, "--box", "tight", "--iterations", 1).exit_code == 0
    before = snapshot(tmp_path / "e")
    one_line_error(run(*common, "--box", "robust", "--iterations", 1), "--box", "'tight'", "'robust'")
    one_line_error(run(*common, "--box", "tight", "--iterations", 2), "--iterations", "1", "2")
    assert snapshot(tmp_path / "e") == before
    assert json.loads((tmp_path / "e" / "summary.json").read_text())["options"]["box"] == "tight"
    again = run(*common, "--box", "tight", "--iterations", 1)  # the same options resume
    assert again.exit_code == 0 and "0 done, 4 already there" in again.output, again.output


def test_coarse_and_labels_reruns_with_other_options_or_inputs_are_refused(images, tmp_path):
    masks = coarse(images, tmp_path / "coarse")
    before = snapshot(masks)
    one_line_error(run("masks", "coarse", "--images", images, "--out", masks, "--threshold", "0.5"),
                   "--threshold", "'mean'", "0.5")
    other = coarse(images, tmp_path / "coarse2", "--threshold", "0.5")
    assert run("masks", "labels", "--masks", masks, "--out", tmp_path / "labels", "--workers", 1).exit_code == 0
    one_line_error(run("masks", "labels", "--masks", other, "--out", tmp_path / "labels"),
                   "--masks", str(masks.resolve()), str(other.resolve()))
    # a folder made by another command
    one_line_error(run("masks", "labels", "--masks", other, "--out", masks), "masks coarse", "masks labels")
    assert snapshot(masks) == before


def test_a_run_folder_copied_whole_still_matches_itself(images, tmp_path):
    import shutil

    masks = coarse(images, tmp_path / "run" / "coarse")
    common = ("masks", "enhance", "--images", images, "--workers", 1, "--iterations", 1)
    assert run(*common, "--coarse", masks, "--out", tmp_path / "run" / "enhanced").exit_code == 0
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    again = run(*common, "--coarse", tmp_path / "copy" / "coarse", "--out", tmp_path / "copy" / "enhanced")
    assert again.exit_code == 0 and "0 done, 4 already there" in again.output, again.output
    # but another coarse folder beside the original run is not the one it was made from
    other = coarse(images, tmp_path / "other", "--threshold", "0.5")
    one_line_error(run(*common, "--coarse", other, "--out", tmp_path / "run" / "enhanced"), "--coarse")


def test_a_folder_from_before_options_json_is_checked_against_its_summary(images, tmp_path):
    masks = coarse(images, tmp_path / "coarse")
    out = tmp_path / "old"
    out.mkdir()  # what an earlier version left: a summary with the options, no options.json
    (out / "summary.json").write_text(json.dumps({"job": "masks enhance", "options": {"box": "tight"}}))
    result = run("masks", "enhance", "--images", images, "--coarse", masks, "--out", out, "--box", "robust")
    one_line_error(result, "--box", "'tight'", "'robust'")
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]


# -- item 2: events survive SIGKILL -----------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from c2fbench.atomic import atomic_write_bytes
    from c2fbench.masks.runner import ItemResult, run_job

    class Job:
        name = "counting"
        def __init__(self, out, kill_at):
            self.out, self.kill_at = out, kill_at
        def outputs(self, image_id):
            return [self.out / f"{image_id}.png"]
        def process(self, image_id):
            k = int(image_id[3:])
            if k == 7:
                return ItemResult(image_id, "failed", error=f"{image_id}: unreadable")
            atomic_write_bytes(self.outputs(image_id)[0], b"x")
            if image_id == self.kill_at:  # output written, result not yet reported
                os.kill(os.getpid(), signal.SIGKILL)
            return ItemResult(image_id, "done", stat="odd" if k % 2 else ("four" if k % 4 == 0 else None))

    out, kill_at = Path(sys.argv[1]), sys.argv[2]
    run_job(Job(out, kill_at), [f"img{k}" for k in range(10)], out=out)
""")


def counting_run(tmp_path, out, kill_at="none"):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), str(out), kill_at], capture_output=True, text=True)


def test_a_summary_after_sigkill_and_resume_equals_an_uninterrupted_one(tmp_path):
    # the oracle, by hand from the rule in SCRIPT: img7 fails; odd: 1 3 5 9; four: 0 4 8
    expected = {"finished": 9, "failed": 1, "stats": {"four": 3, "odd": 4}, "failures": ["img7: img7: unreadable"]}
    killed = counting_run(tmp_path, tmp_path / "killed", kill_at="img4")
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.name for p in (tmp_path / "killed").glob("img*.png")) == [f"img{k}.png" for k in range(5)]
    assert not (tmp_path / "killed" / "summary.json").exists()  # a killed run writes none
    resumed = counting_run(tmp_path, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    straight = counting_run(tmp_path, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    for folder in ("killed", "straight"):
        summary = json.loads((tmp_path / folder / "summary.json").read_text())
        assert {k: summary[k] for k in expected} == expected, folder
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["skipped_existing"] == 4 and summary["done"] == 5  # img4's lost report: made again
    assert failed_ids(tmp_path / "killed") == {"img7"}


# -- item 3: every image failed ---------------------------------------------------------------

def test_labels_where_every_mask_fails_exit_2_naming_the_list(tmp_path):
    masks = tmp_path / "masks" / WNID
    masks.mkdir(parents=True)
    for k in range(3):
        (masks / f"{WNID}_{k}.png").write_bytes(b"")
    result = run("masks", "labels", "--masks", tmp_path / "masks", "--out", tmp_path / "labels", "--workers", 1)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "all 3 images failed" in lines[0] and str(tmp_path / "labels" / "failed.json") in lines[0]
    assert failed_ids(tmp_path / "labels") == {f"{WNID}/{WNID}_{k}" for k in range(3)}
    assert "✓" not in result.output


def test_coarse_where_every_image_fails_exit_2(tmp_path):
    (tmp_path / "images" / WNID).mkdir(parents=True)
    (tmp_path / "images" / WNID / "a.jpg").write_bytes(b"")
    result = run("masks", "coarse", "--images", tmp_path / "images", "--out", tmp_path / "c", "--workers", 1)
    assert result.exit_code == 2 and "masks coarse: its one image failed" in result.output, result.output


# -- item 4: shards ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, env, fragment", [
    ((), {"RANK": "3", "WORLD_SIZE": "2"}, "RANK='3' WORLD_SIZE='2'"),
    ((), {"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE='0'"),
    ((), {"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
    ((), {"RANK": "-1", "WORLD_SIZE": "2"}, "RANK='-1'"),
    ((), {"RANK": "1"}, "RANK='1' WORLD_SIZE='1'"),
    (("--shard", ""), None, "--shard ''"),
    (("--shard", "3/2"), None, "--shard '3/2'"),
    (("--shard", "0/0"), None, "--shard '0/0'"),
    (("--shard", "x/y"), None, "--shard 'x/y'"),
    (("--shard", "-1/2"), None, "--shard '-1/2'"),
])
def test_bad_shards_are_refused_before_anything_is_written(images, tmp_path, args, env, fragment):
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "o", *args, env=env)
    one_line_error(result, fragment)
    assert not (tmp_path / "o").exists()


def test_shard_values_are_checked_wherever_a_shard_is_made():
    with pytest.raises(InputError):
        Shard(3, 2)
    with pytest.raises(InputError):
        Shard(0, 0)


# -- item 5: one live run per shard -----------------------------------------------------------

def test_a_second_run_of_a_locked_shard_is_refused_and_deletes_nothing(images, tmp_path):
    masks = coarse(images, tmp_path / "coarse")
    out = tmp_path / "e"
    common = ("masks", "enhance", "--images", images, "--coarse", masks, "--out", out, "--workers", 1,
              "--iterations", 1)
    in_flight = out / WNID / f".{WNID}_0.png.abcd1234.tmp"  # the first run's file being written
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"half")
    with open(out / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("4242\n")
        lock.flush()
        one_line_error(run(*common), "another run is writing this folder (pid 4242)")
        assert in_flight.read_bytes() == b"half"
        # another shard of the same folder is not held back
        assert run(*common, "--shard", "1/2").exit_code == 0
        assert in_flight.exists()
    assert run(*common).exit_code == 0  # lock released: runs, and keeps a temporary written just now
    assert in_flight.exists()
    os.utime(in_flight, (0, 0))  # now stale: nobody has written it for long
    (out / f"{WNID}/{WNID}_0.png").unlink()
    assert run(*common).exit_code == 0 and not in_flight.exists()


@dataclasses.dataclass(frozen=True)
class OpenFilesJob:
    """Writes, as each image's output, the files its worker process holds open."""

    out: object
    name: str = "open files"

    def outputs(self, image_id):
        return [self.out / f"{image_id}.txt"]

    def process(self, image_id):
        from c2fbench.atomic import atomic_write_text
        from c2fbench.masks.runner import ItemResult

        fds = "/proc/self/fd"
        held = []
        for fd in os.listdir(fds):
            try:
                held.append(os.readlink(f"{fds}/{fd}"))
            except OSError:
                continue
        atomic_write_text(self.outputs(image_id)[0], "\n".join(held))
        return ItemResult(image_id, "done")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_workers_do_not_hold_the_shard_lock(tmp_path):
    from c2fbench.masks.runner import run_job

    out = tmp_path / "out"
    run_job(OpenFilesJob(out), ["a", "b", "c", "d"], out=out, workers=2)
    for image_id in "abcd":
        held = (out / f"{image_id}.txt").read_text().splitlines()
        assert held and not [path for path in held if path.endswith("/.lock")], held


# -- items 6 and 7: empty, special and bomb files ---------------------------------------------

def bomb_png(width=9000, height=9000) -> bytes:
    """A PNG whose header declares width x height grey pixels (81 megapixels) in 100 bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_empty_jpeg_is_skipped_counted_and_listed_by_coarse_enhance_and_labels(images, tmp_path):
    empty_id = f"{WNID}/{WNID}_9"
    (images / f"{empty_id}.JPEG").write_bytes(b"")
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "c", "--workers", 1)
    assert result.exit_code == 0 and "1 failed" in result.output and "failed.json" in result.output, result.output
    assert failed_ids(tmp_path / "c") == {empty_id}
    result = run("masks", "enhance", "--images", images, "--coarse", tmp_path / "c", "--out", tmp_path / "e",
                 "--workers", 1, "--iterations", 1)
    assert result.exit_code == 0, result.output
    assert failed_ids(tmp_path / "e") == {empty_id}
    listed = json.loads((tmp_path / "e" / "failed.json").read_text())
    assert listed["job"] == "masks enhance" and f"{WNID}_9.JPEG" in listed["failed"][0]["error"]
    (tmp_path / "e" / f"{empty_id}.png").write_bytes(b"")  # labels meet an empty mask
    result = run("masks", "labels", "--masks", tmp_path / "e", "--out", tmp_path / "l", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert failed_ids(tmp_path / "l") == {empty_id}
    assert json.loads((tmp_path / "l" / "summary.json").read_text())["finished"] == 4


def test_fifo_dev_zero_link_and_bomb_are_per_image_failures_of_coarse(images, tmp_path):
    os.mkfifo(images / WNID / "x.jpg")
    (images / WNID / "y.jpg").symlink_to("/dev/zero")
    (images / WNID / "z.png").write_bytes(bomb_png())
    result = run("masks", "coarse", "--images", images, "--out", tmp_path / "c", "--workers", 2)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    listed = {e["id"]: e["error"] for e in json.loads((tmp_path / "c" / "failed.json").read_text())["failed"]}
    assert set(listed) == {f"{WNID}/x", f"{WNID}/y", f"{WNID}/z"}
    assert "not a regular file" in listed[f"{WNID}/x"] and "not a regular file" in listed[f"{WNID}/y"]
    assert "9000 x 9000" in listed[f"{WNID}/z"]
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["finished"] == 4


# -- items 8 and 9: help ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["coarse", "enhance", "labels", "score", "student-train"])
def test_every_masks_option_is_described_and_the_help_has_an_example(name):
    import click

    from c2fbench.cli.masks import masks

    command = masks.commands[name]
    undescribed = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert undescribed == []
    result = run("masks", name, "--help")
    assert result.exit_code == 0 and f"c2fbench masks {name} --" in result.output.split("Options:")[1]


def test_student_help_says_a_batch_is_the_least_kept():
    from c2fbench.masks.student_train import kept_count

    assert kept_count(40, keep=0.15, batch_size=32) == 32  # the tiny preset: 80%, not 15%
    assert "at least one batch" in run("masks", "student-train", "--help").output


def test_student_train_refuses_a_device_this_machine_lacks(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "i").mkdir()
    result = run("masks", "student-train", "--images", tmp_path / "i", "--out", tmp_path / "s.pt", "--device", "cuda")
    one_line_error(result, "--device cuda")
