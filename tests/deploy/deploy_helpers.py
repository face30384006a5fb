"""Tiny c2fbench checkpoints and their ONNX exports, for the deploy tests.

The fixtures are module-scoped (an export plus an ONNX Runtime session costs about a second)
and imported by the test modules that use them; they are not in a conftest.py, whose module
name would shadow tests/conftest.py for the other test packages.
"""

from __future__ import annotations

import pytest
import torch

from c2fbench.models import build_model, save_checkpoint


def write_checkpoint(path, arch: str, num_classes: int, classes: list[str] | None = None) -> None:
    """A randomly initialised ``arch`` checkpoint: VOC's class names for 21 classes, made-up
    ones otherwise (or ``classes``).

    BatchNorm running statistics are randomised too, so that eval-mode BN is not the identity
    and the exported graph has something to get wrong."""
    from c2fbench.data.voc import VOC_CLASSES

    model = build_model(arch, num_classes=num_classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    names = classes or (list(VOC_CLASSES) if num_classes == 21 else ["background", "aeroplane", "bicycle"][:num_classes]
                        if num_classes <= 3 else [f"class{i}" for i in range(num_classes)])
    save_checkpoint(path, model, arch=arch, kwargs={"num_classes": num_classes}, classes=names)


@pytest.fixture(scope="module")
def deeplab_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "deeplab.pt"
    write_checkpoint(path, "deeplab_v2_mobilenet", 3)
    return path


@pytest.fixture(scope="module")
def deeplab_onnx(deeplab_ckpt):
    from deploy.export import export_onnx

    out = deeplab_ckpt.with_suffix(".onnx")
    report = export_onnx(deeplab_ckpt, out, dynamic=True, height=64, width=48)
    return out, report


IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def write_hand_onnx(path, outputs, *, classes, normalization=IMAGENET, extra_props=None):
    """A tiny hand-built ONNX graph with c2fbench metadata, for runtime checks.

    ``image`` (B, 3, H, W) feeds each output of ``outputs`` (a list of (name, channels), in
    graph order): output k is the input's first ``channels`` planes, doubled and plus k (so
    every output differs), with more than 3 channels made by repeating the planes. Its known
    value is easy to compute with numpy. ``channels`` "height" gives as many channels as the
    image has rows: a symbolic channel axis that only a run reveals.
    """
    import json

    import onnx
    from onnx import TensorProto, helper

    nodes, infos, inits = [], [], []
    for k, (name, channels) in enumerate(outputs):
        inits += [helper.make_tensor(f"two{k}", TensorProto.FLOAT, [], [2.0]),
                  helper.make_tensor(f"plus{k}", TensorProto.FLOAT, [], [float(k)])]
        if channels == "height":  # idx = arange(H) % 3, computed in the graph
            inits += [helper.make_tensor(f"{word}{k}", TensorProto.INT64, [], [v])
                      for word, v in (("zero", 0), ("one", 1), ("three", 3))]
            nodes += [helper.make_node("Shape", ["image"], [f"s{k}"], start=2, end=3),
                      helper.make_node("Squeeze", [f"s{k}"], [f"h{k}"]),
                      helper.make_node("Range", [f"zero{k}", f"h{k}", f"one{k}"], [f"r{k}"]),
                      helper.make_node("Mod", [f"r{k}", f"three{k}"], [f"idx{k}"])]
        else:
            inits.append(helper.make_tensor(f"idx{k}", TensorProto.INT64, [channels], [c % 3 for c in range(channels)]))
        nodes += [helper.make_node("Gather", ["image", f"idx{k}"], [f"g{k}"], axis=1),
                  helper.make_node("Mul", [f"g{k}", f"two{k}"], [f"m{k}"]),
                  helper.make_node("Add", [f"m{k}", f"plus{k}"], [name])]
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", channels, "height", "width"]))
    graph = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["batch", 3, "height", "width"])], infos, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {"c2fbench.classes": json.dumps(classes), "c2fbench.normalization": json.dumps(normalization),
             **(extra_props or {})}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def hand_onnx_expected(x, channels, k: int = 0):
    """What output ``k`` of :func:`write_hand_onnx` gives for ``x`` (B, 3, H, W), by numpy."""
    channels = x.shape[2] if channels == "height" else channels
    return 2.0 * x[:, [c % 3 for c in range(channels)]] + k
