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
