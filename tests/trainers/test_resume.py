"""``train --resume``: extending a run with --rounds equals a straight run; other changed
options and damaged run files are refused in one line, with the run folder untouched; an
unreadable training image is left out instead of stopping every resume."""

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.main import cli

TINY = ["--recipe", "tiny", "--epochs", "1", "--workers", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny", seed=7)
    return root


def train(synth, out, *args, images=None):
    return CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(images or synth / "imagenet"),
                                    "--out", str(out), *TINY, *[str(a) for a in args]])


@pytest.fixture(scope="module")
def one_round(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    result = train(synth, out, "--rounds", "1", "--val-root", synth)
    assert result.exit_code == 0, result.output
    return out, result.output


def copy_run(source, out):
    """A copy of a run directory; its masks folders' options.json renamed to the copy's inputs
    (the masks runner refuses a folder whose recorded inputs moved)."""
    from trainers.branch import copy_run_part

    shutil.copytree(source, out)
    for folder in (source / "masks").iterdir():
        copy_run_part(source, out, f"masks/{folder.name}")


def snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_one_round_run_logs_its_loss_per_epoch_and_says_1_round(one_round):
    out, output = one_round
    assert "round 1, epoch 1/1: loss " in output
    assert "trained 1 round," in output and "1 rounds" not in output
    [line] = log(out)
    assert line["round"] == 1 and len(line["losses"]) == 1
    shown = float(output.split("round 1, epoch 1/1: loss ")[1].split()[0])
    assert shown == pytest.approx(line["losses"][0], abs=5e-5)


def test_resume_with_more_rounds_equals_a_straight_run(synth, one_round, tmp_path):
    out = tmp_path / "extended"
    copy_run(one_round[0], out)
    result = train(synth, out, "--resume", "--rounds", "2")
    assert result.exit_code == 0, result.output
    assert "trained 2 rounds" in result.output
    straight = tmp_path / "straight"
    assert train(synth, straight, "--rounds", "2", "--val-root", synth).exit_code == 0
    assert json.loads((out / "config.json").read_text()) == json.loads((straight / "config.json").read_text())
    assert [line["round"] for line in log(out)] == [1, 2] and "predictions" in log(out)[0]
    assert log(out)[1]["losses"] == log(straight)[1]["losses"]
    a = torch.load(out / "final.pt", weights_only=True)["state_dict"]
    b = torch.load(straight / "final.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_config_json_records_the_numerics_and_still_reproduces_the_run(synth, one_round):
    """config.json and every round's log line say what decided the floats; the record is
    ignored when the file is passed back with --config (it configures nothing)."""
    out, _ = one_round
    stored = json.loads((out / "config.json").read_text())
    assert stored["threads"] == 1 and stored["numerics"]["torch_threads"] == 1 and stored["numerics"]["workers"] == 1
    assert log(out)[0]["numerics"] == stored["numerics"]
    result = CliRunner().invoke(cli, ["train", "deeplab", "--config", str(out / "config.json"), "--print-config"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert "numerics" not in printed and printed == {k: v for k, v in stored.items() if k != "numerics"}


def test_resume_on_other_threads_logs_each_rounds_own_count(synth, one_round, tmp_path):
    out = tmp_path / "run"
    copy_run(one_round[0], out)
    result = CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(synth / "imagenet"), "--out", str(out),
                                      "--resume", "--workers", "1", "--threads", "2", "--rounds", "2"])
    assert result.exit_code == 0, result.output
    assert [line["numerics"]["torch_threads"] for line in log(out)] == [1, 2]
    assert json.loads((out / "config.json").read_text())["threads"] == 2


@pytest.mark.parametrize("args, fragments", [
    (["--lr", "0.1"], ["--lr 0.1 differs from this run's lr 0.05"]),
    (["--epochs", "3"], ["--epochs 3 differs from this run's epochs 1"]),
    (["--arch", "deeplab_v2_mobilenet_small"], ["--arch \"deeplab_v2_mobilenet_small\"", "deeplab_v2_mobilenet\""]),
    (["--recipe", "demo"], ["(from recipe demo)"]),
])
def test_resume_refuses_changed_options_and_leaves_the_run_as_it_was(synth, one_round, tmp_path, args, fragments):
    out = tmp_path / "run"
    copy_run(one_round[0], out)
    before = snapshot(out)
    result = CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(synth / "imagenet"), "--out", str(out),
                                      "--resume", "--workers", "1", *args])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert all(f in line for f in fragments), line
    assert str(out / "config.json") in line
    assert snapshot(out) == before


def test_resume_by_the_other_command_and_below_the_rounds_started_is_refused(synth, one_round, tmp_path):
    out = tmp_path / "run"
    copy_run(one_round[0], out)
    before = snapshot(out)
    other = CliRunner().invoke(cli, ["train", "dfpn", "--images", str(synth / "imagenet" / "train"), "--out", str(out),
                                     "--resume"])
    assert other.exit_code == 2 and "a semantic run; resume it with `c2fbench train deeplab`" in other.output
    (out / "round-02").mkdir()
    (out / "round-02" / "model.pt").write_bytes(b"x")
    (out / "config.json").write_text(json.dumps({**json.loads((out / "config.json").read_text()), "rounds": 2}))
    before = snapshot(out)
    fewer = train(synth, out, "--resume", "--rounds", "1")
    assert fewer.exit_code == 2 and "fewer than the 2 rounds this run has started" in fewer.output
    assert snapshot(out) == before


def _damage(out, case):
    if case == "config":
        (out / "config.json").write_text('{"arch": "deeplab_v2_mobilenet",')
        return out / "config.json", "not valid JSON"
    if case == "config-type":
        config = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**config, "epochs": "1"}))
        return out / "config.json", "'epochs' must be an integer"
    if case == "metrics":
        (out / "metrics.jsonl").write_text((out / "metrics.jsonl").read_text()[:40])
        return out / "metrics.jsonl", "line 1: not valid JSON"
    if case == "metrics-round":
        (out / "metrics.jsonl").write_text('{"losses": []}\n')
        return out / "metrics.jsonl", "integer 'round'"
    if case == "model":
        model = out / "round-01" / "model.pt"  # a finished round's model, cut short: round 2 starts from it
        model.write_bytes(model.read_bytes()[:5000])
        return model, "corrupt"
    (out / "round-02").mkdir()
    shutil.copy(out / "round-01" / "model.pt", out / "round-02" / "last.pt")  # a model, not an epoch checkpoint
    return out / "round-02" / "last.pt", "no 'epoch'"


@pytest.mark.parametrize("case", ["config", "config-type", "metrics", "metrics-round", "last", "model"])
def test_resume_with_a_damaged_run_file_names_it(synth, one_round, tmp_path, case):
    out = tmp_path / "run"
    copy_run(one_round[0], out)
    path, why = _damage(out, case)
    before = snapshot(out)
    result = train(synth, out, "--resume", "--rounds", "2")
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert str(path) in line and why in line, line
    assert snapshot(out) == before


def test_an_unreadable_training_image_is_left_out_and_resume_works(synth, tmp_path):
    """A zero-byte JPEG: the mask stage lists it as failed; training leaves it out, says so,
    and a resume (here extending the run) goes on."""
    images = tmp_path / "imagenet"
    shutil.copytree(synth / "imagenet", images)
    jpegs = sorted((images / "train").rglob("*.JPEG"))
    broken = jpegs[3]
    broken.write_bytes(b"")
    rel = f"{broken.parent.name}/{broken.stem}"
    out = tmp_path / "run"
    first = train(synth, out, "--rounds", "1", images=images)
    assert first.exit_code == 0, first.output
    assert f"1 of {len(jpegs)} training images have no round-0 mask and are left out ({rel})" in first.output
    failed = json.loads((out / "masks" / "coarse" / "failed.json").read_text())["failed"]
    assert [entry["id"] for entry in failed] == [rel]
    assert str(out / "masks" / "coarse" / "failed.json") in first.output
    again = train(synth, out, "--resume", "--rounds", "2", images=images)
    assert again.exit_code == 0, again.output
    assert "left out" in again.output and [line["round"] for line in log(out)] == [1, 2]
    assert not (out / "predictions" / "round-01" / f"{rel}.png").exists()
    assert len(list((out / "predictions" / "round-01").rglob("*.png"))) == len(jpegs) - 1


def test_a_start_on_only_unreadable_images_leaves_nothing_and_a_good_start_follows(synth, tmp_path):
    """Every image zero bytes: the masks stage stops the start, --out is removed (or, when it
    held a file of the user's, left with just that), and the same command on good images starts."""
    images = tmp_path / "imagenet"
    for jpeg in sorted((synth / "imagenet" / "train").rglob("*.JPEG"))[:3]:
        (images / "train" / jpeg.parent.name).mkdir(parents=True, exist_ok=True)
        (images / "train" / jpeg.parent.name / jpeg.name).write_bytes(b"")
    out = tmp_path / "run"
    result = train(synth, out, "--rounds", "1", images=images)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "all 3 images failed" in errors[0] and "Traceback" not in result.output
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert train(synth, out, "--rounds", "1", images=images).exit_code == 2
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    good = train(synth, out, "--rounds", "1")
    assert good.exit_code == 0, good.output
    assert [line["round"] for line in log(out)] == [1]


def test_a_resume_while_another_process_writes_the_run_is_refused(synth, one_round, tmp_path):
    """Another process holding OUT/.lock (flock, as a live run does): one line, nothing written."""
    import fcntl
    import os

    out = tmp_path / "run"
    copy_run(one_round[0], out)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        before = snapshot(out)
        result = train(synth, out, "--resume", "--rounds", "2")
        assert result.exit_code == 2, result.output
        [line] = result.output.strip().splitlines()
        assert "another run is writing this folder (pid 4242)" in line and "choose another --out" in line, line
        assert snapshot(out) == before
    finally:
        os.close(fd)
