"""``train classifier`` and ``--backbone-weights``: image-level pretraining of the backbone."""

import json
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.data.synth import write_synth
from c2fbench.errors import InputError
from c2fbench.models import build_model
from trainers.classifier import ClassifierConfig, load_backbone_weights, split_holdout, train_classifier

CFG = ClassifierConfig(arch="deeplab_v2_mobilenet_small", epochs=2, batch_size=8, resize=48, crop=40, holdout=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_synth(root, preset="tiny", seed=1)
    return root


def test_holdout_takes_every_nth_image_of_each_class():
    class S:
        def __init__(self, label, n):
            self.label, self.n = label, n

    samples = [S(c, n) for c in (1, 2) for n in range(5)]
    train, held = split_holdout(samples, 2)
    assert [(s.label, s.n) for s in held] == [(1, 0), (1, 2), (1, 4), (2, 0), (2, 2), (2, 4)]
    assert len(train) == 4 and not set(map(id, train)) & set(map(id, held))


def test_weights_load_into_the_segmentation_model_and_resume_is_exact(tiny, tmp_path):
    straight = train_classifier(tiny / "imagenet", tmp_path / "a.pt", CFG)
    assert [row["epoch"] for row in straight["history"]] == [1, 2]
    assert all(0 <= row["top1"] <= 100 for row in straight["history"]) and straight["held_out"] == 20

    class Stop(Exception):
        pass

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train_classifier(tiny / "imagenet", tmp_path / "b.pt", CFG, on_epoch=stop_after_first)
    assert not (tmp_path / "b.pt").exists() and (tmp_path / "b.pt.partial").is_file()
    resumed = train_classifier(tiny / "imagenet", tmp_path / "b.pt", CFG, resume=True)
    assert not (tmp_path / "b.pt.partial").exists()
    for key, tensor in straight["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][key]), key

    model = build_model(CFG.arch, num_classes=21)
    load_backbone_weights(model, tmp_path / "a.pt", CFG.arch)
    for key, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, straight["state_dict"][key]), key


def test_bad_backbone_files_are_refused(tiny, tmp_path):
    train_classifier(tiny / "imagenet", tmp_path / "small.pt", CFG)
    model = build_model("deeplab_v2_mobilenet", num_classes=21)
    with pytest.raises(InputError, match="backbone of 'deeplab_v2_mobilenet_small'"):
        load_backbone_weights(model, tmp_path / "small.pt", "deeplab_v2_mobilenet")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt: not readable"):
        load_backbone_weights(model, tmp_path / "junk.pt", "deeplab_v2_mobilenet")
    content = torch.load(tmp_path / "small.pt", weights_only=True)
    key = next(iter(content["state_dict"]))
    content["state_dict"][key] = torch.zeros(3)
    torch.save(content, tmp_path / "bad.pt")
    with pytest.raises(InputError, match=f"{key} has shape"):
        load_backbone_weights(build_model(CFG.arch, num_classes=21), tmp_path / "bad.pt", CFG.arch)
    with pytest.raises(InputError, match="not found"):
        load_backbone_weights(model, tmp_path / "missing.pt", "deeplab_v2_mobilenet")


def test_cli_trains_and_the_trainer_refuses_another_arch(tiny, tmp_path):
    out = tmp_path / "bb.pt"
    args = ["train", "classifier", "--images", str(tiny / "imagenet"), "--arch", CFG.arch, "--out", str(out),
            "--epochs", "1", "--resize", "48", "--crop", "40", "--holdout", "2", "--threads", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "held-out top-1" in result.output and out.is_file()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "exists already" in again.output
    bad = CliRunner().invoke(cli, [*args[:5], "no_such_arch", *args[6:]])
    assert bad.exit_code == 2 and "unknown model architecture" in bad.output
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "deeplab", "--imagenet", str(tiny / "imagenet"), "--out", str(run),
                                      "--recipe", "tiny", "--backbone-weights", str(out), "--threads", "1"])
    assert result.exit_code == 2, result.output
    assert "this run trains 'deeplab_v2_mobilenet'" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (run / "config.json").exists() and not (run / "masks").exists()


def test_a_run_starts_from_the_backbone(tiny, tmp_path):
    from trainers.recursive import train_recursive
    from trainers.resolve import resolve_config

    train_classifier(tiny / "imagenet", tmp_path / "bb.pt", CFG)
    cfg = resolve_config(recipe="tiny", config=None, overrides={}).updated(
        arch=CFG.arch, rounds=1, epochs=1, lr=1e-9, backbone_weights=str(tmp_path / "bb.pt"))
    train_recursive(cfg, images=tiny / "imagenet", out=tmp_path / "run", workers=1)
    trained = torch.load(tmp_path / "run" / "final.pt", weights_only=True)["state_dict"]
    backbone = torch.load(tmp_path / "bb.pt", weights_only=True)["state_dict"]
    weights = [k for k in backbone if k.endswith("weight") and backbone[k].dim() == 4]
    # lr 1e-9: the convolution weights are still the pretrained ones (BN statistics move)
    assert all(torch.allclose(trained[f"backbone.{k}"], backbone[k], atol=1e-6) for k in weights)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["backbone_weights"] == str(tmp_path / "bb.pt")


@pytest.mark.parametrize("arch, num_classes", [("dfpn_mobilenet", 1), ("fpn_mobilenet", 1),
                                                ("deeplab_v2_vgg_lite", 21)])
def test_every_kind_of_model_gets_a_backbone_that_loads(tiny, tmp_path, arch, num_classes):
    """Foreground models (one output channel) are pretrained too: Table IV's runs start from them."""
    cfg = replace(CFG, arch=arch, epochs=1)
    train_classifier(tiny / "imagenet", tmp_path / "bb.pt", cfg)
    model = build_model(arch, num_classes=num_classes)
    load_backbone_weights(model, tmp_path / "bb.pt", arch)
    saved = torch.load(tmp_path / "bb.pt", weights_only=True)["state_dict"]
    assert saved.keys() == model.backbone.state_dict().keys()
    assert all(torch.equal(model.backbone.state_dict()[k], saved[k]) for k in saved)


def test_a_backbone_serves_every_arch_with_the_very_same_backbone(tiny, tmp_path):
    """FPN and DFPN share their backbone, so one pretrained file serves both (a fair Table IV);
    the output-stride-8 MobileNet has the same tensors but other dilations, so it is refused."""
    cfg = replace(CFG, arch="fpn_mobilenet", epochs=1)
    train_classifier(tiny / "imagenet", tmp_path / "fpn.pt", cfg)
    dfpn = build_model("dfpn_mobilenet", num_classes=1)
    load_backbone_weights(dfpn, tmp_path / "fpn.pt", "dfpn_mobilenet")
    saved = torch.load(tmp_path / "fpn.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(dfpn.backbone.state_dict()[k], saved[k]) for k in saved)

    train_classifier(tiny / "imagenet", tmp_path / "os16.pt", replace(CFG, arch="deeplab_v2_mobilenet", epochs=1))
    os8 = build_model("deeplab_v2_mobilenet_os8", num_classes=21)
    assert os8.backbone.state_dict().keys() == build_model("deeplab_v2_mobilenet").backbone.state_dict().keys()
    with pytest.raises(InputError, match="backbone of 'deeplab_v2_mobilenet', but this run trains"):
        load_backbone_weights(os8, tmp_path / "os16.pt", "deeplab_v2_mobilenet_os8")


def test_unreadable_images_are_left_out_with_a_warning(tiny, tmp_path):
    """A zero-byte JPEG, a FIFO and a link to /dev/zero in the tree: training goes on without
    them (counted by hand: the synthetic tree's JPEGs plus the three) and the warning names them."""
    import os
    import shutil

    images = tmp_path / "imagenet"
    shutil.copytree(tiny / "imagenet", images)
    good = sorted((images / "train").rglob("*.JPEG"))
    folder = good[0].parent
    (folder / "zero.JPEG").write_bytes(b"")
    os.mkfifo(folder / "fifo.JPEG")
    (folder / "dev.JPEG").symlink_to("/dev/zero")
    warnings = []
    result = train_classifier(images, tmp_path / "a.pt", replace(CFG, epochs=1), warn=warnings.append)
    assert result["trained_on"] + result["held_out"] == len(good)
    [line] = warnings
    assert line.startswith(f"3 of {len(good) + 3} images are unreadable and left out")
    for name in ("zero.JPEG", "fifo.JPEG", "dev.JPEG"):
        assert str(folder / name) in line


def test_a_damaged_partial_file_is_the_only_line_on_resume(tiny, tmp_path):
    """Named before any image is read (no progress lines before the error)."""
    (tmp_path / "a.pt.partial").write_text("junk")
    result = CliRunner().invoke(cli, ["train", "classifier", "--images", str(tiny / "imagenet"), "--out",
                                      str(tmp_path / "a.pt"), "--resume", "--epochs", "1", "--threads", "1"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'a.pt.partial'}: not readable as backbone weights"), line
    assert (tmp_path / "a.pt.partial").read_text() == "junk" and not (tmp_path / "a.pt").exists()


def test_too_few_images_is_one_line_before_any_image_is_read(tiny, tmp_path):
    jpeg = sorted((tiny / "imagenet" / "train").rglob("*.JPEG"))[0]
    (tmp_path / "one" / "train" / jpeg.parent.name).mkdir(parents=True)
    (tmp_path / "one" / "train" / jpeg.parent.name / jpeg.name).write_bytes(jpeg.read_bytes())
    result = CliRunner().invoke(cli, ["train", "classifier", "--images", str(tmp_path / "one"), "--out",
                                      str(tmp_path / "a.pt"), "--threads", "1"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "need at least two images per class" in line and "found 1 listed" in line, line
