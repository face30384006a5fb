"""Models without c2fbench metadata (issue 15, item 5): an ONNX file exported elsewhere,
described by --classes/--mean/--std or tagged once with `deploy tag`, and torchvision's
segmentation models by name. The oracle is the same network read the c2fbench way: the
original export with its metadata, or the torch module run directly."""

from __future__ import annotations

import json

import onnx
import pytest
import torch

from c2fbench.data.voc import VOC_CLASSES
from deploy_helpers import write_checkpoint
from cli_helpers import assert_refused, run

IMAGENET_FLAGS = ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


@pytest.fixture(scope="module")
def voc_onnx(tmp_path_factory):
    """(with metadata, the same graph without it, its normalisation flags): a 21-class export."""
    from deploy.export import export_onnx

    folder = tmp_path_factory.mktemp("foreign")
    write_checkpoint(folder / "m.pt", "deeplab_v2_vgg_lite", 21)
    tagged = folder / "m.onnx"
    export_onnx(folder / "m.pt", tagged, dynamic=True, height=48, width=48, verify=False)
    proto = onnx.load(str(tagged))
    norm = json.loads({p.key: p.value for p in proto.metadata_props}["c2fbench.normalization"])
    del proto.metadata_props[:]
    bare = folder / "bare.onnx"
    onnx.save(proto, str(bare))
    flags = ["--mean", ",".join(map(repr, norm["mean"])), "--std", ",".join(map(repr, norm["std"]))]
    return tagged, bare, flags


def eval_metrics(data_root, out, *args):
    result = run("eval", "voc-val", "--data-root", data_root, "--out", out, "--workers", "1", "--no-figures", *args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_flags_tag_and_the_original_metadata_score_the_same(voc_tree, tmp_path, voc_onnx):
    data_root, _, _ = voc_tree
    tagged, bare, flags = voc_onnx
    original = eval_metrics(data_root, tmp_path / "a", "--model", tagged)
    by_flags = eval_metrics(data_root, tmp_path / "b", "--model", bare, "--classes", "voc", *flags)
    result = run("deploy", "tag", "--onnx", bare, "--out", tmp_path / "t.onnx", "--classes", "voc", *flags)
    assert result.exit_code == 0, result.output
    by_tag = eval_metrics(data_root, tmp_path / "c", "--model", tmp_path / "t.onnx")
    for m in (by_flags, by_tag):
        assert m["confusion_matrix"] == original["confusion_matrix"] and m["mIoU"] == original["mIoU"]
        assert m["classes"] == list(VOC_CLASSES)
    # the same flags for a file that carries the same metadata are accepted
    assert eval_metrics(data_root, tmp_path / "d", "--model", tagged, "--classes", "voc", *flags)["mIoU"] == \
        original["mIoU"]


def test_tag_in_place_writes_the_metadata(tmp_path, voc_onnx):
    from deploy.onnx_meta import read_onnx

    _, bare, _ = voc_onnx
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(bare.read_bytes())
    assert run("deploy", "tag", "--onnx", copy, "--classes", "voc", "--no-normalize").exit_code == 0
    meta, _ = read_onnx(copy)
    assert meta["classes"] == list(VOC_CLASSES) and meta["normalization"] == {"mean": [0.0] * 3, "std": [1.0] * 3}


def test_without_metadata_or_flags_the_error_names_the_flags_and_tag(voc_tree, tmp_path, voc_onnx):
    data_root, _, _ = voc_tree
    _, bare, flags = voc_onnx
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", bare, "--out", out), out,
                   "bare.onnx", "no c2fbench metadata", "--classes voc|coco|mit", "deploy tag")
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", bare, "--classes", "voc", "--out", out),
                   out, "bare.onnx", "--mean/--std is not given", "deploy tag")
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", bare, *flags, "--out", out),
                   out, "--classes is not given")


@pytest.mark.parametrize("mean, std, words", [
    ("0.5,0.5", "0.2,0.2,0.2", "--mean '0.5,0.5': expected three finite numbers"),
    ("nan,0.5,0.5", "0.2,0.2,0.2", "expected three finite numbers"),
    ("0.5,0.5,0.5", "0,0.2,0.2", "std must be above 0"),
    ("0.5,0.5,0.5", "1e-50,1e-50,1e-50", "overflow float32"),  # above 0, but 0 in float32: every input inf
    ("123.7,116.3,103.5", "58.4,57.1,57.4", "divide 0-255 values by 255"),
])
def test_bad_mean_or_std_is_refused(voc_tree, tmp_path, voc_onnx, mean, std, words):
    data_root, _, _ = voc_tree
    _, bare, _ = voc_onnx
    out = tmp_path / "res"
    result = run("eval", "voc-val", "--data-root", data_root, "--model", bare, "--classes", "voc",
                 "--mean", mean, "--std", std, "--out", out)
    assert_refused(result, out, words)


def test_flags_that_disagree_with_the_metadata_are_refused_naming_both(voc_tree, tmp_path, voc_onnx):
    data_root, _, _ = voc_tree
    tagged, _, flags = voc_onnx
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", tagged, "--classes", "voc",
                       "--no-normalize", "--out", out), out, "--mean 0,0,0 --std 1,1,1 disagrees", "--mean 0.485")
    assert_refused(run("deploy", "tag", "--onnx", tagged, "--classes", "mit", *flags), None,
                   "--classes mit (2 classes", "disagrees", "21 classes")


def test_tag_refuses_classes_the_graph_does_not_have(tmp_path, voc_onnx):
    _, bare, _ = voc_onnx
    out = tmp_path / "o" / "t.onnx"
    assert_refused(run("deploy", "tag", "--onnx", bare, "--out", out, "--classes", "coco", *IMAGENET_FLAGS),
                   tmp_path / "o", "81 classes")


def test_profile_times_a_file_without_metadata_and_no_flags(tmp_path, voc_onnx):
    _, bare, _ = voc_onnx
    result = run("deploy", "profile", "--model", bare, "--shape", "1x3x32x32", "--warmup", "0", "--warmup-ms", "0",
                 "--iterations", "2", "--duration", "0", "--threads", "1", "--out", tmp_path / "prof")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "prof" / "profile.json").read_text())["results"]
    assert [r["backend"] for r in rows] == ["onnxruntime"] and rows[0]["iterations"] == 2


# ---- torchvision:NAME --weights FILE ----

NAME = "lraspp_mobilenet_v3_large"  # the smallest of torchvision's segmentation models


@pytest.fixture(scope="module")
def tv_weights(tmp_path_factory):
    from deploy.torchvision_models import build_torchvision

    torch.manual_seed(0)
    net = build_torchvision(NAME, 21)
    with torch.no_grad():  # a random head bias, so that the argmax is not one class everywhere
        net.net.classifier.low_classifier.bias.normal_(0, 2)
    path = tmp_path_factory.mktemp("tv") / "lraspp.pth"
    torch.save({"model": net.net.state_dict(), "epoch": 3}, path)  # as torchvision's reference scripts save
    return path, net


def test_torchvision_model_scores_as_the_module_run_directly(voc_tree, tmp_path, tv_weights):
    from c2fbench.eval.benchmarks import load_benchmark
    from c2fbench.eval.evaluator import evaluate
    from c2fbench.eval.sources import ModelPredictions
    from c2fbench.inference import ModuleRuntime
    from deploy.foreign import IMAGENET

    data_root, _, _ = voc_tree
    weights, net = tv_weights
    by_cli = eval_metrics(data_root, tmp_path / "a", "--model", f"torchvision:{NAME}", "--weights", weights)
    runtime = ModuleRuntime(net, classes=VOC_CLASSES, normalization=IMAGENET)
    direct = evaluate(load_benchmark("voc-val", data_root), ModelPredictions(runtime), workers=1).metrics
    assert by_cli["confusion_matrix"] == direct["confusion_matrix"] and by_cli["mIoU"] == direct["mIoU"]
    assert by_cli["source"]["model"] == f"torchvision:{NAME}"


def test_torchvision_refusals_are_one_line(voc_tree, tmp_path, tv_weights):
    data_root, _, _ = voc_tree
    weights, _ = tv_weights
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", "torchvision:resnet50",
                       "--weights", weights, "--out", out), out, "unknown torchvision segmentation model",
                   "deeplabv3_resnet101", NAME)
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", f"torchvision:{NAME}", "--out", out),
                   out, "needs --weights")
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", "torchvision:fcn_resnet50",
                       "--weights", weights, "--out", out), out, "lraspp.pth", "does not fit torchvision fcn_resnet50")
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", f"torchvision:{NAME}", "--weights",
                       weights, "--classes", "coco", "--out", out), out, "with 81 classes", "of another shape")


def test_profile_times_a_torchvision_model_on_torch(tmp_path, tv_weights):
    weights, _ = tv_weights
    args = ["deploy", "profile", "--model", f"torchvision:{NAME}", "--weights", weights, "--shape", "1x3x32x32",
            "--warmup", "0", "--warmup-ms", "0", "--iterations", "1", "--duration", "0", "--threads", "1"]
    result = run(*args, "--out", tmp_path / "prof")
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "prof" / "profile.json").read_text())
    assert [r["backend"] for r in profile["results"]] == ["torch"] and profile["source"]["model"] == f"torchvision:{NAME}"
    assert_refused(run(*args, "--backend", "onnxruntime"), None, "runs on the torch backend only")


def test_flags_for_a_checkpoint_must_agree_with_it(voc_tree, tmp_path, voc_onnx):
    data_root, _, _ = voc_tree
    tagged, _, _ = voc_onnx
    out = tmp_path / "res"
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", tagged.with_suffix(".pt"),
                       "--classes", "coco", "--out", out), out, "m.pt", "--classes coco (81 classes", "21 classes")
    assert_refused(run("eval", "voc-val", "--data-root", data_root, "--model", tagged.with_suffix(".pt"),
                       "--weights", tagged, "--out", out), out, "--weights is for --model torchvision:NAME")


def test_predict_and_parity_take_the_flags_too(voc_tree, tmp_path, voc_onnx):
    """`predict --model bare.onnx --classes --mean --std` writes the label maps of the tagged
    file byte for byte, and `deploy parity` of the checkpoint against the bare export passes
    with a zero difference; without the flags both are refused naming them."""
    data_root, voc, _ = voc_tree
    tagged, bare, flags = voc_onnx
    images = voc / "JPEGImages"
    assert run("predict", "--model", tagged, "--images", images, "--out", tmp_path / "a").exit_code == 0
    result = run("predict", "--model", bare, "--images", images, "--out", tmp_path / "b", "--classes", "voc", *flags)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names and names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    assert_refused(run("predict", "--model", bare, "--images", images, "--out", tmp_path / "c"),
                   tmp_path / "c", "--classes")
    checkpoint = tagged.with_suffix(".pt")
    out = tmp_path / "parity"
    result = run("deploy", "parity", "--model", checkpoint, "--deployed", bare, "--data-root", data_root,
                 "--classes", "voc", *flags, "--out", out)
    assert result.exit_code == 0, result.output
    checked = json.loads((out / "parity.json").read_text())
    assert checked["deployed"]["mIoU"] == checked["reference"]["mIoU"]
    assert_refused(run("deploy", "parity", "--model", checkpoint, "--deployed", bare, "--data-root", data_root),
                   None, "--classes")
