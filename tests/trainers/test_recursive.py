"""The recursive trainer end to end on the tiny preset: run directory, resume, config,
``eval --model`` against ``predict`` + ``eval --predictions``."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from trainers.config import RECIPES_DIR, TrainConfig
from trainers.recursive import train_recursive
from trainers.resolve import resolve_config

TINY = dict(arch="deeplab_v2_mobilenet", rounds=2, epochs=2, batch_size=4, lr=0.05, resize=80, crop=64,
            coarse_box="robust", grabcut_iterations=2, min_foreground=0.0, max_foreground=1.0)



@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from c2fbench.data.synth import write_synth

    root = tmp_path_factory.mktemp("synth")
    write_synth(root, preset="tiny", seed=2)
    return root


# (part, PNGs in masks/coarse, PNGs in masks/enhanced) at each on_masks call of straight_run
MASKS_CALLS = []


def _pngs(folder):
    return len(list(folder.rglob("*.png"))) if folder.is_dir() else 0


@pytest.fixture(scope="module")
def straight_run(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = TrainConfig.from_flat({**TINY, "val_root": str(synth)})
    train_recursive(cfg, images=synth / "imagenet", out=out, workers=1, on_masks=lambda part: MASKS_CALLS.append(
        (part, _pngs(out / "masks" / "coarse"), _pngs(out / "masks" / "enhanced"))))
    return out


def test_on_masks_follows_each_complete_round_zero_folder(synth, straight_run):
    """What the demo starts Table I's rounds on: the coarse masks whole while GrabCut has not
    started, then the enhanced masks whole; one mask per training image."""
    images = len([p for p in (synth / "imagenet" / "train").rglob("*") if p.is_file()])
    assert images > 0 and MASKS_CALLS == [("coarse", images, 0), ("enhanced", images, images)]


def test_run_directory_matches_the_contract(straight_run):
    out = straight_run
    for path in ("config.json", "masks/round-00", "masks/round-01", "round-01/model.pt", "round-02/model.pt",
                 "final.pt", "metrics.jsonl"):
        assert (out / path).exists(), path
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["round"] for line in lines] == [1, 2]
    for line in lines:
        assert len(line["losses"]) == 2 and all(np.isfinite(line["losses"]))
        assert 0 <= line["val"]["mIoU"] <= 100 and line["val"]["benchmark"] == "voc-val"
        assert line["train_masks"]["iou"] is not None  # synthetic data has hidden ground truth
    assert not list(out.rglob("last.pt"))  # epoch checkpoints are removed once a round is saved
    payload = torch.load(out / "final.pt", weights_only=True)
    assert payload["arch"] == "deeplab_v2_mobilenet" and len(payload["classes"]) == 21


def test_each_rounds_validation_is_kept_for_a_paired_comparison(straight_run):
    """round-XX/eval is eval --out's folder for that round's model: its metrics are the logged
    val, its per-image matrices sum to the logged confusion matrix (a second code path), and
    `c2fbench compare` of two rounds reads them as they are."""
    lines = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        folder = straight_run / f"round-{line['round']:02d}" / "eval"
        saved = json.loads((folder / "metrics.json").read_text())
        assert saved["mIoU"] == line["val"]["mIoU"]
        per_image = np.load(folder / "per_image.npz")["confusion"]
        assert (per_image.sum(axis=0) == np.array(line["val"]["confusion_matrix"])).all()
    result = CliRunner().invoke(cli, ["compare", str(straight_run / "round-01" / "eval"),
                                      str(straight_run / "round-02" / "eval"), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert f"{lines[0]['val']['mIoU'] - lines[1]['val']['mIoU']:+.2f}" in result.output  # A - B


def test_config_json_reproduces_the_configuration(straight_run):
    """Every option comes back; the record of what decided the floats is not an option."""
    cfg = resolve_config(recipe=None, config=straight_run / "config.json", overrides={})
    stored = json.loads((straight_run / "config.json").read_text())
    assert cfg.to_json(stored["numerics"]) == (straight_run / "config.json").read_text()


def test_an_interrupted_run_resumes_to_the_same_final_weights(synth, straight_run, tmp_path):
    cfg = TrainConfig.from_flat({**TINY, "val_root": str(synth)})

    def interrupt(round_index, epoch):
        if (round_index, epoch) == (2, 1):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_recursive(cfg, images=synth / "imagenet", out=tmp_path / "run", workers=1, on_epoch_end=interrupt)
    assert (tmp_path / "run" / "round-02" / "last.pt").is_file() and not (tmp_path / "run" / "final.pt").exists()
    train_recursive(cfg, images=synth / "imagenet", out=tmp_path / "run", resume=True, workers=1)
    resumed = torch.load(tmp_path / "run" / "final.pt", weights_only=True)["state_dict"]
    straight = torch.load(straight_run / "final.pt", weights_only=True)["state_dict"]
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert torch.equal(resumed[key], straight[key]), key


def test_an_existing_run_is_not_overwritten_without_resume(synth, straight_run):
    result = CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(synth / "imagenet"),
                                      "--out", str(straight_run), "--arch", "deeplab_v2_mobilenet"])
    assert result.exit_code == 2 and "--resume" in result.output


def test_eval_model_equals_predict_then_eval_predictions(synth, straight_run, tmp_path):
    model = straight_run / "final.pt"
    voc = synth / "VOCdevkit" / "VOC2012"
    (tmp_path / "val").mkdir()
    for image_id in (voc / "ImageSets/Segmentation/val.txt").read_text().split():
        (tmp_path / "val" / f"{image_id}.jpg").write_bytes((voc / "JPEGImages" / f"{image_id}.jpg").read_bytes())
    runner = CliRunner()
    assert runner.invoke(cli, ["predict", "--model", str(model), "--images", str(tmp_path / "val"),
                               "--out", str(tmp_path / "pred")]).exit_code == 0
    a = runner.invoke(cli, ["eval", "voc-val", "--data-root", str(synth), "--model", str(model),
                            "--out", str(tmp_path / "a"), "--no-figures"])
    b = runner.invoke(cli, ["eval", "voc-val", "--data-root", str(synth), "--predictions", str(tmp_path / "pred"),
                            "--out", str(tmp_path / "b"), "--no-figures"])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    ma, mb = (json.loads((tmp_path / k / "metrics.json").read_text()) for k in "ab")
    assert ma["confusion_matrix"] == mb["confusion_matrix"] and ma["mIoU"] == mb["mIoU"]
    assert ma["source"]["sha256"] and ma["source"]["model"].endswith("final.pt")
    tta = runner.invoke(cli, ["predict", "--model", str(model), "--images", str(tmp_path / "val"),
                              "--out", str(tmp_path / "tta"), "--tta"])
    assert tta.exit_code == 0 and len(list((tmp_path / "tta").glob("*.png"))) == len(list((tmp_path / "pred").glob("*.png")))


def test_eval_refuses_a_checkpoint_with_the_wrong_class_count(synth, straight_run, tmp_path):
    from c2fbench.models import build_model
    from c2fbench.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "m.pt", build_model("deeplab_v2_mobilenet", num_classes=3),
                    arch="deeplab_v2_mobilenet", kwargs={"num_classes": 3}, classes=["a", "b", "c"])
    result = CliRunner().invoke(cli, ["eval", "voc-val", "--data-root", str(synth), "--model", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and "3 classes" in result.output


def test_recipes_and_bad_configurations(tmp_path):
    from c2fbench.errors import InputError

    assert resolve_config(recipe="paper-voc", config=None, overrides={}).arch == "deeplab_v2_resnet101"
    with pytest.raises(InputError, match="unknown recipe"):
        resolve_config(recipe="nope", config=None, overrides={})
    (tmp_path / "c.json").write_text('{"learning_rate": 1}')
    with pytest.raises(InputError, match="unknown options learning_rate"):
        resolve_config(recipe=None, config=tmp_path / "c.json", overrides={})
    with pytest.raises(InputError, match="crop"):
        resolve_config(recipe=None, config=None, overrides={"crop": 400, "resize": 300})


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES_DIR.glob("*.json")))
def test_every_shipped_recipe_resolves_and_builds_its_model(recipe):
    from c2fbench.models import build_model

    cfg = resolve_config(recipe=recipe, config=None, overrides={})
    model = build_model(cfg.arch, num_classes=21 if cfg.task == "semantic" else 1)
    assert cfg.crop <= cfg.resize and model.num_classes in (1, 21)


def test_a_branch_after_round_one_equals_a_straight_run_with_its_settings(synth, straight_run, tmp_path):
    from trainers.branch import branch_after_round_one

    straight = tmp_path / "straight"
    cfg = TrainConfig.from_flat({**TINY, "val_root": str(synth), "refine_grabcut": False})
    train_recursive(cfg, images=synth / "imagenet", out=straight, workers=1)
    branch = tmp_path / "branch"
    cfg = branch_after_round_one(straight_run, branch, refine_grabcut=False)
    assert cfg.refine.grabcut is False and not (branch / "metrics.jsonl").exists()
    train_recursive(cfg, images=synth / "imagenet", out=branch, resume=True, workers=1)
    assert (branch / "config.json").read_text() == (straight / "config.json").read_text()
    got = [json.loads(line) for line in (branch / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(got, want, strict=True):
        a["val"].pop("time_utc"), b["val"].pop("time_utc")
        a["val"]["source"].pop("model", None), b["val"]["source"].pop("model", None)
        assert a == b
    a = torch.load(branch / "final.pt", weights_only=True)["state_dict"]
    b = torch.load(straight / "final.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in b)
    with pytest.raises(InputError, match="lr"):
        branch_after_round_one(straight_run, tmp_path / "bad", lr=0.1)


def test_train_branch_from_takes_only_refinement_options(synth, straight_run, tmp_path):
    base = ["train", "deeplab", "--imagenet", str(synth / "imagenet"), "--branch-from", str(straight_run)]
    refused = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b1"), "--no-refine-grabcut", "--lr", "0.1"])
    assert refused.exit_code == 2 and "lr cannot differ" in refused.output and not (tmp_path / "b1").exists()
    done = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b2"), "--no-refine-grabcut", "--workers", "1"])
    assert done.exit_code == 0, done.output
    config = json.loads((tmp_path / "b2" / "config.json").read_text())
    assert config["refine_grabcut"] is False and config["lr"] == json.loads((straight_run / "config.json").read_text())["lr"]
    lines = [json.loads(line) for line in (tmp_path / "b2" / "metrics.jsonl").read_text().splitlines()]
    assert [line["round"] for line in lines] == [1, 2] and (tmp_path / "b2" / "final.pt").is_file()
    again = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b2"), "--no-refine-grabcut"])
    assert again.exit_code == 2 and "--resume" in again.output


def test_later_rounds_train_later_epochs(synth, straight_run, tmp_path):
    """Round 1 trains ``epochs`` (2 in TINY), every later round ``later_epochs``; a branch may
    change it, since it acts after round 1 only."""
    from trainers.branch import branch_after_round_one

    branch = tmp_path / "branch"
    cfg = branch_after_round_one(straight_run, branch, later_epochs=1)
    assert (cfg.epochs_of(1), cfg.epochs_of(2), cfg.epochs_of(3)) == (2, 1, 1)
    train_recursive(cfg, images=synth / "imagenet", out=branch, resume=True, workers=1)
    lines = [json.loads(line) for line in (branch / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    assert [len(line["losses"]) for line in lines] == [2, 1] and [len(line["losses"]) for line in straight] == [2, 2]
    assert lines[0]["losses"] == straight[0]["losses"]  # round 1 is the source's
    assert json.loads((branch / "config.json").read_text())["later_epochs"] == 1
    with pytest.raises(InputError, match="later_epochs must be at least 1"):
        resolve_config(recipe=None, config=None, overrides={"later_epochs": 0}, task="semantic")
    with pytest.raises(InputError, match="enhanced_box must be tight or robust"):
        resolve_config(recipe=None, config=None, overrides={"enhanced_box": "loose"}, task="semantic")


def test_later_rounds_start_at_later_lr(synth, straight_run, tmp_path):
    """``later_lr``: rounds 2 and later start their schedule there. Two oracles: the source's
    own lr written out as later_lr trains round 2 exactly as the straight run did, and a
    rate of 1e-12 leaves round 2's weights where round 1 left them (Adam's step is at most
    about the rate; only BatchNorm's running statistics move)."""
    from c2fbench.models.checkpoint import load_checkpoint
    from trainers.branch import branch_after_round_one

    straight = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    same = branch_after_round_one(straight_run, tmp_path / "same", later_lr=TINY["lr"])
    assert same.optim_of(1).lr == same.optim_of(2).lr == TINY["lr"]
    train_recursive(same, images=synth / "imagenet", out=tmp_path / "same", resume=True, workers=1)
    lines = [json.loads(line) for line in (tmp_path / "same" / "metrics.jsonl").read_text().splitlines()]
    assert [line["losses"] for line in lines] == [line["losses"] for line in straight]

    still = branch_after_round_one(straight_run, tmp_path / "still", later_lr=1e-12, rounds=2)
    assert (still.optim_of(1).lr, still.optim_of(2).lr) == (TINY["lr"], 1e-12)
    train_recursive(still, images=synth / "imagenet", out=tmp_path / "still", resume=True, workers=1)
    before, _ = load_checkpoint(straight_run / "round-01" / "model.pt")
    after, _ = load_checkpoint(tmp_path / "still" / "round-02" / "model.pt")
    moved = max((a - b).abs().max().item() for a, b in zip(after.parameters(), before.parameters()))
    assert moved < 1e-8
    assert json.loads((tmp_path / "still" / "config.json").read_text())["later_lr"] == 1e-12
    for bad, message in ((0, "later_lr must be above 0"), (-1e-3, "later_lr must be above 0"),
                         ("fast", "'later_lr' must be a number or null"), (float("nan"), "finite number")):
        with pytest.raises(InputError, match=message):
            resolve_config(recipe=None, config=None, overrides={"later_lr": bad}, task="semantic")
    assert resolve_config(recipe=None, config=None, overrides={"later_lr": None}, task="semantic").later_lr is None
