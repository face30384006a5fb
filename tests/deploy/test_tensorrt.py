"""TensorRT: sidecar checks and shape profiles on CPU; building and running marked ``gpu``."""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.errors import InputError
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.tensorrt import FORMAT, check_sidecar, read_sidecar, sidecar_path
from deploy.tensorrt_build import shape_profile

SIDECAR = {"format": FORMAT, "tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA H100 80GB HBM3",
           "compute_capability": "9.0"}
HERE = {"tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def test_sidecar_accepts_its_own_machine(tmp_path):
    check_sidecar(SIDECAR, path=tmp_path / "m.engine", **HERE)


@pytest.mark.parametrize("field, value, words", [
    ("tensorrt_version", "11.4.0.106", "TensorRT version 10.13.3.9, this machine has 11.4.0.106"),
    ("gpu_name", "NVIDIA A100-SXM4-80GB", "GPU NVIDIA H100 80GB HBM3, this machine has NVIDIA A100"),
    ("compute_capability", "8.0", "compute capability 9.0, this machine has 8.0"),
])
def test_sidecar_mismatch_is_refused(tmp_path, field, value, words):
    with pytest.raises(InputError, match=f"m.engine: engine was built for {words}.*rebuild it here"):
        check_sidecar(SIDECAR, path=tmp_path / "m.engine", **{**HERE, field: value})


def test_sidecar_file_errors(tmp_path):
    engine = tmp_path / "m.engine"
    assert sidecar_path(engine).name == "m.engine.json"
    with pytest.raises(InputError, match="m.engine.json: engine sidecar not found"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a c2fbench engine sidecar"):
        check_sidecar(read_sidecar(engine), path=engine, **HERE)


def test_shape_profiles():
    assert shape_profile([1, 3, 64, 64]) == {"min": (1, 3, 64, 64), "opt": (1, 3, 64, 64), "max": (1, 3, 64, 64)}
    dynamic = ["batch", 3, "height", "width"]
    assert shape_profile(dynamic) == {"min": (1, 3, 128, 128), "opt": (1, 3, 321, 321), "max": (1, 3, 512, 512)}
    # an opt shape outside the defaults widens min and max around it
    assert shape_profile(dynamic, opt_shape=(2, 3, 64, 640)) == {
        "min": (1, 3, 64, 128), "opt": (2, 3, 64, 640), "max": (2, 3, 512, 640)}
    with pytest.raises(InputError, match="min <= opt <= max"):
        shape_profile(dynamic, min_shape=(1, 3, 400, 400), opt_shape=(1, 3, 321, 321), max_shape=(1, 3, 512, 512))
    with pytest.raises(InputError, match="does not match the static ONNX input"):
        shape_profile([1, 3, 64, 64], opt_shape=(1, 3, 321, 321))
    with pytest.raises(InputError, match="axis 0 is fixed to 1"):
        shape_profile([1, 3, "h", "w"], max_shape=(4, 3, 512, 512))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_build_without_tensorrt_says_what_to_install(tmp_path, deeplab_onnx):
    result = CliRunner().invoke(cli, ["deploy", "build", "--onnx", str(deeplab_onnx[0]),
                                      "--out", str(tmp_path / "m.engine")])
    assert result.exit_code == 2 and "pip install 'c2fbench[tensorrt]'" in result.output
    (tmp_path / "m.engine").write_bytes(b"an engine")
    (tmp_path / "img").mkdir()
    result = CliRunner().invoke(cli, ["predict", "--model", str(tmp_path / "m.engine"), "--images",
                                      str(tmp_path / "img"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "c2fbench[tensorrt]" in result.output


def _needs_tensorrt_and_cuda():
    import torch

    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("needs TensorRT (pip install 'c2fbench[tensorrt]' on a machine with an NVIDIA GPU)")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU for TensorRT")


@pytest.mark.gpu
@pytest.mark.parametrize("precision, atol", [("fp32", 1e-3), ("fp16", 5e-2)])
def test_engine_matches_onnx_runtime(tmp_path, deeplab_onnx, precision, atol):
    _needs_tensorrt_and_cuda()
    from c2fbench.inference import Runtime
    from deploy.runtimes import OnnxRuntime, load_runtime
    from deploy.tensorrt_build import build_engine

    engine = tmp_path / f"m-{precision}.engine"
    sidecar = build_engine(deeplab_onnx[0], engine, precision=precision, workspace_mb=512,
                           min_shape=(1, 3, 32, 32), opt_shape=(1, 3, 64, 64), max_shape=(2, 3, 128, 128),
                           timing_cache=tmp_path / "timing.cache")
    assert sidecar["precision"] == precision and (tmp_path / "timing.cache").is_file()
    runtime = load_runtime(engine, device="cuda")
    assert isinstance(runtime, Runtime) and runtime.backend == "tensorrt" and runtime.precision == precision
    x = np.random.default_rng().standard_normal((2, 3, 48, 80)).astype(np.float32)
    np.testing.assert_allclose(runtime.infer(x), OnnxRuntime(deeplab_onnx[0]).infer(x), atol=atol, rtol=atol)
    with pytest.raises(InputError, match="outside the engine's shape profile"):
        runtime.infer(np.zeros((1, 3, 256, 256), np.float32))


@pytest.mark.gpu
def test_engine_from_another_machine_is_refused(tmp_path, deeplab_onnx):
    _needs_tensorrt_and_cuda()
    from deploy.runtimes import load_runtime
    from deploy.tensorrt_build import build_engine

    engine = tmp_path / "m.engine"
    build_engine(deeplab_onnx[0], engine, workspace_mb=512, opt_shape=(1, 3, 64, 64))
    sidecar = json.loads(sidecar_path(engine).read_text())
    sidecar_path(engine).write_text(json.dumps({**sidecar, "tensorrt_version": "0.0.1"}))
    with pytest.raises(InputError, match="built for TensorRT version 0.0.1"):
        load_runtime(engine, device="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_engine_profile_splits_copies_from_compute(tmp_path, deeplab_onnx, cuda_graph):
    _needs_tensorrt_and_cuda()
    from deploy.timing import time_steps
    from deploy.runtimes import OnnxRuntime, load_runtime
    from deploy.tensorrt_build import build_engine

    engine = tmp_path / "m.engine"
    build_engine(deeplab_onnx[0], engine, workspace_mb=512, opt_shape=(1, 3, 64, 64))
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    steps = load_runtime(engine, device="cuda").prepare(x, cuda_graph=cuda_graph)
    result = time_steps(steps, batch=1, warmup_ms=0, iterations=5, duration_s=0)
    assert result["gpu_events"] and result["cuda_graph"] == cuda_graph
    assert 0 < result["gpu_median_ms"] <= result["median_ms"] and result["h2d_median_ms"] > 0
    host_out = steps.keep[3]  # what the last timed run copied back
    np.testing.assert_allclose(host_out.numpy(), OnnxRuntime(deeplab_onnx[0]).infer(x), atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_int8_engine_agrees_with_its_q_dq_graph_on_onnx_runtime(tmp_path, deeplab_onnx):
    """INT8 parity beside FP32 and FP16: the strongly typed engine against ONNX Runtime (CPU)
    running the same Q/DQ graph; both round the same scales, so most labels agree."""
    _needs_tensorrt_and_cuda()
    from PIL import Image

    from deploy.quantize import quantize_static_int8
    from deploy.runtimes import OnnxRuntime, load_runtime
    from deploy.tensorrt_build import build_engine

    calib = tmp_path / "calib"
    calib.mkdir()
    for k in range(4):
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(calib / f"{k}.png")
    q = quantize_static_int8(deeplab_onnx[0], tmp_path / "q.onnx", calib_images=calib, num=4, target="tensorrt")
    assert q["target"] == "tensorrt"
    sidecar = build_engine(tmp_path / "q.onnx", tmp_path / "q.engine", precision="int8", workspace_mb=512,
                           opt_shape=(1, 3, 64, 64))
    assert sidecar["precision"] == "int8" and sidecar["strongly_typed"]
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    engine, reference = load_runtime(tmp_path / "q.engine", device="cuda").infer(x), OnnxRuntime(tmp_path / "q.onnx").infer(x)
    assert (engine.argmax(1) == reference.argmax(1)).mean() > 0.9


def test_a_stub_only_tensorrt_folder_is_not_taken_for_tensorrt(tmp_path, monkeypatch):
    """tensorrt-stubs installed beside the code leaves a ``tensorrt`` folder holding only
    .pyi files, which Python imports as an empty namespace package."""
    from deploy.tensorrt import INSTALL, import_tensorrt

    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.pyi").write_text("class Builder: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    if importlib.util.find_spec("tensorrt").origin is not None:
        pytest.skip("a real TensorRT comes first on sys.path")
    with pytest.raises(InputError, match=re.escape(INSTALL)):
        import_tensorrt()
