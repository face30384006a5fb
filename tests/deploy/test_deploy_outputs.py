"""Issue 25 for `c2fbench deploy`: no output over an input, whatever the command; metadata
JSON read by the one bounded reader; and re-tagging a file with `deploy tag --replace`,
as the messages say. Every refusal is checked through the command line: exit 2, one line,
and the input's bytes unchanged (the oracle: the bytes read before the command ran)."""

from __future__ import annotations

import json
import os

import onnx
import pytest

from cli_helpers import assert_refused, run
from deploy_helpers import IMAGENET, deeplab_ckpt, write_hand_onnx  # noqa: F401 (fixtures)

CLASSES = ["background", "aeroplane", "bicycle"]


@pytest.fixture
def files(tmp_path, deeplab_ckpt):
    """A checkpoint, a tagged ONNX file, and a folder of images, all in ``tmp_path``."""
    import numpy as np
    from PIL import Image

    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(deeplab_ckpt.read_bytes())
    model = write_hand_onnx(tmp_path / "m.onnx", [("logits", 3)], classes=CLASSES)
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng().integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(images / "a.png")
    return ckpt, model, images


def refused_unchanged(args, inputs, *words):
    """``c2fbench ARGS`` is refused naming ``words`` and leaves every file of ``inputs`` as it was."""
    before = {path: path.read_bytes() for path in inputs}
    assert_refused(run(*args), None, *words)
    for path, data in before.items():
        assert path.read_bytes() == data, path


def test_export_refuses_an_output_over_its_inputs(tmp_path, files):
    ckpt, _, images = files
    export = ["deploy", "export", "--model", ckpt, "--height", "32", "--width", "32", "--no-verify"]
    refused_unchanged([*export, "--out", ckpt], [ckpt], f"--out {ckpt}: is --model")
    (tmp_path / "link.onnx").symlink_to(ckpt)
    refused_unchanged([*export, "--out", tmp_path / "link.onnx"], [ckpt], "is --model")
    refused_unchanged([*export, "--out", images / "m.onnx", "--verify-images", images], [images / "a.png"],
                      "lies inside --verify-images")
    assert sorted(p.name for p in images.iterdir()) == ["a.png"]


def test_quantize_refuses_an_output_over_its_inputs(tmp_path, files):
    _, model, images = files
    quantize = ["deploy", "quantize", "--onnx", model, "--calib-images", images]
    refused_unchanged([*quantize, "--out", model], [model], f"--out {model}: is --onnx")
    (tmp_path / "link.onnx").symlink_to(model)
    refused_unchanged([*quantize, "--out", tmp_path / "link.onnx"], [model], "is --onnx")
    refused_unchanged([*quantize, "--out", images / "int8.onnx"], [model], "lies inside --calib-images")
    assert sorted(p.name for p in images.iterdir()) == ["a.png"]


def test_tag_refuses_an_out_that_is_its_input(tmp_path, files):
    _, model, _ = files
    tag = ["deploy", "tag", "--onnx", model, "--classes", "voc", "--no-normalize", "--replace"]
    refused_unchanged([*tag, "--out", model], [model], "is --onnx")
    (tmp_path / "link.onnx").symlink_to(model)
    refused_unchanged([*tag, "--out", tmp_path / "link.onnx"], [model], "is --onnx")


def test_tag_in_place_through_a_link_rewrites_the_file_it_points_to(tmp_path):
    model = write_hand_onnx(tmp_path / "m.onnx", [("logits", 2)], classes=["background", "foreground"])
    proto = onnx.load(str(model))
    del proto.metadata_props[:]  # a file from elsewhere
    onnx.save(proto, str(model))
    (tmp_path / "link.onnx").symlink_to(model)
    result = run("deploy", "tag", "--onnx", tmp_path / "link.onnx", "--classes", "mit", "--no-normalize")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link.onnx").is_symlink()
    props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert json.loads(props["c2fbench.normalization"]) == {"mean": [0.0] * 3, "std": [1.0] * 3}


@pytest.mark.parametrize("case", ["engine", "sidecar", "cache over engine", "cache over onnx"])
def test_build_refuses_outputs_over_inputs_before_looking_for_tensorrt(tmp_path, files, case):
    _, model, _ = files
    engine = tmp_path / "m.engine"
    beside = tmp_path / "m.engine.json"  # an ONNX file where the engine's sidecar would go
    beside.write_bytes(model.read_bytes())
    onnx_path, args, words = {
        "engine": (model, ["--out", model], f"--out {model}: is --onnx"),
        "sidecar": (beside, ["--out", engine], f"--out's sidecar {beside}: is --onnx"),
        "cache over engine": (model, ["--out", engine, "--timing-cache", engine], f"--out {engine}: is --timing-cache"),
        "cache over onnx": (model, ["--out", tmp_path / "e.engine", "--timing-cache", model],
                            f"--timing-cache {model}: is --onnx"),
    }[case]
    refused_unchanged(["deploy", "build", "--onnx", onnx_path, *args], [model, beside], words)


def test_parity_refuses_an_output_inside_its_dataset(tmp_path, voc_tree):
    from c2fbench.data.voc import VOC_CLASSES
    from deploy_helpers import write_checkpoint

    data_root, _, _ = voc_tree
    write_checkpoint(tmp_path / "v.pt", "deeplab_v2_vgg_lite", 21)  # models that fit voc-val: it would run
    deployed = write_hand_onnx(tmp_path / "v.onnx", [("logits", 21)], classes=list(VOC_CLASSES))
    parity = ["deploy", "parity", "--model", tmp_path / "v.pt", "--deployed", deployed, "--data-root", data_root]
    voc = data_root / "VOCdevkit" / "VOC2012"
    label = next(voc.rglob("*.png"))
    refused_unchanged([*parity, "--out", voc], [label], f"--out {voc / 'parity.json'}: lies inside the dataset of "
                      "--data-root")
    refused_unchanged([*parity, "--out", voc / "JPEGImages"], [label], "lies inside the dataset of --data-root")
    assert not list(voc.rglob("parity.json"))


def test_profile_refuses_to_write_its_profile_over_the_weights(tmp_path):
    prof = tmp_path / "prof"
    prof.mkdir()
    weights = prof / "profile.json"  # a state dict that happens to be called what profile writes
    weights.write_bytes(b"weights")
    refused_unchanged(["deploy", "profile", "--model", "torchvision:lraspp_mobilenet_v3_large", "--weights", weights,
                       "--shape", "1x3x8x8", "--out", prof], [weights], f"--out {weights}: is --weights")


# ---- metadata JSON: one bounded reader ----

DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_metadata_json_is_one_error_line(tmp_path, voc_tree):
    from c2fbench.errors import InputError
    from deploy.onnx_meta import read_onnx
    from deploy.runtimes import OnnxRuntime

    data_root, _, _ = voc_tree
    path = write_hand_onnx(tmp_path / "deep.onnx", [("logits", 2)], classes=["background", "foreground"])
    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == "c2fbench.classes":
            p.value = DEEP
    onnx.save(proto, str(path))
    for reader in (OnnxRuntime, read_onnx):
        with pytest.raises(InputError, match="deep.onnx: metadata c2fbench.classes"):
            reader(path)
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", path, "--out", out), out,
                   "deep.onnx: metadata c2fbench.classes")
    assert_refused(run("deploy", "tag", "--onnx", path, "--classes", "voc", "--no-normalize"), None,
                   "metadata c2fbench.classes")
    # --replace writes over metadata it does not read, broken or not
    result = run("deploy", "tag", "--onnx", path, "--classes", "mit", "--no-normalize", "--replace",
                 "--out", tmp_path / "fixed.onnx")
    assert result.exit_code == 0, result.output
    meta, _ = read_onnx(tmp_path / "fixed.onnx")
    assert meta["classes"] == ["background", "foreground"]


def test_deep_kwargs_and_engine_sidecar_are_refused(tmp_path):
    from c2fbench.errors import InputError
    from deploy.tensorrt import read_sidecar, sidecar_path

    path = write_hand_onnx(tmp_path / "k.onnx", [("logits", 2)], classes=["background", "foreground"],
                           extra_props={"c2fbench.kwargs": DEEP})
    assert_refused(run("deploy", "tag", "--onnx", path, "--classes", "mit", "--no-normalize", "--replace",
                       "--out", tmp_path / "o" / "t.onnx"), tmp_path / "o", "k.onnx: metadata c2fbench.kwargs")
    engine = tmp_path / "m.engine"
    sidecar_path(engine).write_text(DEEP)
    with pytest.raises(InputError, match="m.engine.json"):
        read_sidecar(engine)


# ---- re-tagging: the messages name --replace, and --replace does it ----

def test_retag_with_replace_as_the_messages_say(tmp_path, voc_tree):
    data_root, _, _ = voc_tree
    from c2fbench.data.voc import VOC_CLASSES

    path = write_hand_onnx(tmp_path / "m.onnx", [("logits", 21)], classes=list(VOC_CLASSES), normalization=IMAGENET)
    flags = ["--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25"]
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", path, *flags, "--out", out), out,
                   "disagrees", "re-tag the file with `c2fbench deploy tag --replace`")
    before = path.read_bytes()
    assert_refused(run("deploy", "tag", "--onnx", path, "--classes", "voc", *flags), None,
                   "disagrees", "add --replace")
    assert path.read_bytes() == before
    result = run("deploy", "tag", "--onnx", path, "--classes", "voc", *flags, "--replace")
    assert result.exit_code == 0, result.output
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["c2fbench.normalization"]) == {"mean": [0.5] * 3, "std": [0.25] * 3}
    result = run("eval", "voc-val", "--data-root", data_root, "--model", path, *flags, "--out", out, "--workers", "1",
                 "--no-figures")
    assert result.exit_code == 0, result.output  # the flags now agree with the file
    assert not [e for e in os.listdir(tmp_path) if e.endswith(".tmp")]
