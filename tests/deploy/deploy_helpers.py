"""Tiny c2fbench checkpoints and their ONNX exports, for the deploy tests."""

from __future__ import annotations

import pytest
import torch

from c2fbench.models import build_model, save_checkpoint


def write_checkpoint(path, arch: str, num_classes: int) -> None:
    """A randomly initialised ``arch`` checkpoint with made-up class names.

    BatchNorm running statistics are randomised too, so that eval-mode BN is not the identity
    and the exported graph has something to get wrong."""
    model = build_model(arch, num_classes=num_classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    names = ["background", "aeroplane", "bicycle"][:num_classes] if num_classes <= 3 else \
        [f"class{i}" for i in range(num_classes)]
    save_checkpoint(path, model, arch=arch, kwargs={"num_classes": num_classes}, classes=names)


