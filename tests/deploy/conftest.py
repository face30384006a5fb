"""Module-scoped fixtures: an export plus an ONNX Runtime session costs about a second."""

from __future__ import annotations

import pytest

from deploy_helpers import write_checkpoint


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
