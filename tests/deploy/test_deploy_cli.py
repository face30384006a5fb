"""``c2fbench deploy`` refusals through click's CliRunner: exit 2, one line naming the file
or option, nothing written; and the help every option owes its user."""

from __future__ import annotations

import click
import numpy as np
import pytest
import torch
from PIL import Image

from c2fbench.data.voc import VOC_CLASSES
from deploy_helpers import deeplab_ckpt, deeplab_onnx, write_checkpoint, write_hand_onnx  # noqa: F401 (fixtures)
from cli_helpers import assert_refused, run


# ---- export: a bad --verify-images image leaves no .onnx ----

def test_export_with_a_corrupt_verification_image_writes_nothing(tmp_path, deeplab_ckpt):
    images, out_dir = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    Image.fromarray(np.random.default_rng().integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(images / "a.jpg")
    good = (images / "a.jpg").read_bytes()
    (images / "b.jpg").write_bytes(good[: len(good) * 3 // 4])  # truncated: its header reads fine
    with Image.open(images / "b.jpg") as im:
        assert im.size == (40, 32)
    result = run("deploy", "export", "--model", deeplab_ckpt, "--out", out_dir / "m.onnx", "--height", "32",
                 "--width", "40", "--verify-images", images)
    assert_refused(result, out_dir, "b.jpg", "corrupt")
    (images / "b.jpg").write_bytes(b"not an image at all")
    result = run("deploy", "export", "--model", deeplab_ckpt, "--out", out_dir / "m.onnx", "--height", "32",
                 "--width", "40", "--verify-images", images)
    assert_refused(result, out_dir, "b.jpg")
    (images / "b.jpg").unlink()  # the oracle: the same command with good images writes the file
    result = run("deploy", "export", "--model", deeplab_ckpt, "--out", out_dir / "m.onnx", "--height", "32",
                 "--width", "40", "--verify-images", images)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.onnx"] and "a.jpg" in result.output


# ---- parity: the model must fit the benchmark ----

def test_parity_refuses_a_semantic_model_on_mit(mit_tree, tmp_path, deeplab_ckpt, deeplab_onnx):
    data_root, _ = mit_tree
    result = run("deploy", "parity", "--model", deeplab_ckpt, "--deployed", deeplab_onnx[0], "--benchmark",
                 "mit-subset", "--data-root", data_root, "--out", tmp_path / "parity")
    assert_refused(result, tmp_path / "parity", "deeplab.pt", "mit-subset scores foreground models", "this model has 3 classes")


def test_parity_refuses_a_foreground_model_on_voc(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    write_checkpoint(tmp_path / "fg.pt", "deeplab_v2_vgg_lite", 1, classes=["foreground"])
    onnx = write_hand_onnx(tmp_path / "fg.onnx", [("logits", 1)], classes=["foreground"])
    result = run("deploy", "parity", "--model", tmp_path / "fg.pt", "--deployed", onnx, "--benchmark", "voc-val",
                 "--data-root", data_root, "--out", tmp_path / "parity")
    assert_refused(result, tmp_path / "parity", "fg.pt", "model has 1 class, voc-val expects 21")


def test_parity_refuses_a_deployed_model_of_other_classes(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    write_checkpoint(tmp_path / "m.pt", "deeplab_v2_vgg_lite", 21)
    swapped = list(VOC_CLASSES)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    onnx = write_hand_onnx(tmp_path / "m.onnx", [("logits", 21)], classes=swapped)
    result = run("deploy", "parity", "--model", tmp_path / "m.pt", "--deployed", onnx, "--data-root", data_root,
                 "--out", tmp_path / "parity")
    assert_refused(result, tmp_path / "parity", "m.onnx", "deployed model class 3 is 'boat', its reference has 'bird'")


def test_eval_refuses_a_checkpoint_whose_class_names_differ(voc_tree, tmp_path):
    data_root, _, _ = voc_tree
    swapped = list(VOC_CLASSES)
    swapped[15], swapped[16] = swapped[16], swapped[15]  # person <-> pottedplant: same count, other names
    write_checkpoint(tmp_path / "m.pt", "deeplab_v2_vgg_lite", 21, classes=swapped)
    result = run("eval", "voc-val", "--data-root", data_root, "--model", tmp_path / "m.pt", "--out", tmp_path / "res")
    assert_refused(result, tmp_path / "res", "m.pt", "model class 15 is 'pottedplant', voc-val expects 'person'")


# ---- --device: checked before anything runs ----

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("device, words", [
    ("gpu", "--device gpu: expected cpu, cuda or cuda:N"),
    pytest.param("cuda", "--device cuda: CUDA is not available", marks=NO_CUDA),
    pytest.param("cuda:1", "--device cuda:1: CUDA is not available", marks=NO_CUDA),
])
def test_device_is_checked_first(tmp_path, voc_tree, deeplab_ckpt, deeplab_onnx, device, words):
    data_root, _, _ = voc_tree
    out = tmp_path / "out"
    assert_refused(run("deploy", "profile", "--model", deeplab_ckpt, "--device", device, "--out", out), out, words)
    assert_refused(run("deploy", "parity", "--model", deeplab_ckpt, "--deployed", deeplab_onnx[0], "--data-root",
                       data_root, "--device", device, "--out", out), out, words)
    assert_refused(run("deploy", "build", "--onnx", deeplab_onnx[0], "--out", out / "m.engine", "--device", device), out, words)


def test_build_refuses_the_cpu(tmp_path, deeplab_onnx):
    result = run("deploy", "build", "--onnx", deeplab_onnx[0], "--out", tmp_path / "o" / "m.engine", "--device", "cpu")
    assert_refused(result, tmp_path / "o", "--device cpu: TensorRT builds engines on an NVIDIA GPU")


# ---- profile: the ratio column names its baseline ----

def test_profile_ratio_column_names_its_baseline(deeplab_ckpt):
    from c2fbench.report.terminal import baseline_column

    result = run("deploy", "profile", "--model", deeplab_ckpt, "--backend", "onnxruntime", "--backend", "torch",
                 "--shape", "1x3x16x16", "--warmup", "0", "--warmup-ms", "0", "--iterations", "1", "--duration", "0",
                 "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "vs onnxruntime" in result.output and "vs first" not in result.output
    rows = [{"backend": "onnxruntime", "precision": p} for p in ("int8", "fp32")]
    assert baseline_column(rows) == "vs onnxruntime int8"


# ---- help: every option says what it takes, every command shows examples ----

@pytest.mark.parametrize("name", ["export", "parity", "profile", "quantize", "build", "tag"])
def test_every_deploy_option_has_help_and_the_command_examples(name):
    from c2fbench.cli.deploy import deploy

    command = deploy.commands[name]
    bare = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert bare == []
    result = run("deploy", name, "--help")
    assert result.exit_code == 0 and "Example" in result.output and f"c2fbench deploy {name} " in result.output


def test_help_shows_the_defaults_the_library_uses():
    """One source: deploy/__init__.py's constants, which the modules take as their defaults."""
    import inspect

    from deploy import DEFAULT_OPSET, DEFAULT_PROFILE, DEFAULT_TOLERANCE, WORKSPACE_MB
    from deploy.export import export_onnx
    from deploy.parity import parity
    from deploy.tensorrt_build import build_engine, shape_profile

    def shown(name: str) -> str:
        return " ".join(run("deploy", name, "--help").output.split())  # as one line: click wraps

    def default(function, name: str):
        return inspect.signature(function).parameters[name].default

    assert f"[default: {DEFAULT_OPSET};" in shown("export") and default(export_onnx, "opset") == DEFAULT_OPSET
    assert f"[default: {DEFAULT_TOLERANCE};" in shown("parity") and default(parity, "tolerance") == DEFAULT_TOLERANCE
    build = shown("build")
    assert f"[default: {WORKSPACE_MB};" in build and default(build_engine, "workspace_mb") == WORKSPACE_MB
    for shape in DEFAULT_PROFILE.values():
        assert f"[default: {'x'.join(map(str, shape))}]" in build  # plain, not click's "(...)"
    assert shape_profile(["batch", 3, "height", "width"]) == DEFAULT_PROFILE
    from deploy import CALIBRATION_IMAGES, CALIBRATION_METHOD, QUANTIZE_TARGET
    from deploy.quantize import quantize_static_int8

    quantize = shown("quantize")
    assert f"[default: {CALIBRATION_IMAGES};" in quantize and default(quantize_static_int8, "num") == CALIBRATION_IMAGES
    assert f"[default: {CALIBRATION_METHOD}]" in quantize and default(quantize_static_int8, "method") == CALIBRATION_METHOD
    assert f"[default: {QUANTIZE_TARGET}]" in quantize and default(quantize_static_int8, "target") == QUANTIZE_TARGET


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "101"])
def test_a_parity_tolerance_outside_0_100_is_refused_before_running(tmp_path, value):
    result = run("deploy", "parity", "--model", tmp_path / "m.pt", "--deployed", tmp_path / "m.onnx",
                 "--data-root", tmp_path, "--tolerance", value, "--out", tmp_path / "out")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: Invalid value for '--tolerance'") and "0<=x<=100" in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
