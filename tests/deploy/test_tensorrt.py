"""TensorRT: sidecar checks and shape profiles on CPU; building and running marked ``gpu``."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import warnings

import numpy as np
import pytest

from c2fbench.errors import InputError
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)
from deploy.tensorrt import FORMAT, check_engine_hash, check_sidecar, read_sidecar, sidecar_path
from deploy.tensorrt_build import shape_profile

SIDECAR = {"format": FORMAT, "tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA H100 80GB HBM3",
           "compute_capability": "9.0"}
HERE = {"tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def run_cli(args: list[str]):
    """``c2fbench ARGS`` in-process (tests/cli_helpers.py), imported here rather than with the
    module: click is not installed where the gpu tests run (benchmarks/gpu_check.py --prepared)."""
    from cli_helpers import run

    return run(*args)


def test_sidecar_accepts_its_own_machine(tmp_path):
    assert check_sidecar(SIDECAR, path=tmp_path / "m.engine", **HERE) == []


@pytest.mark.parametrize("field, value, words", [
    ("tensorrt_version", "11.4.0.106", "TensorRT version 10.13.3.9, this machine has 11.4.0.106"),
    ("compute_capability", "8.0", "compute capability 9.0, this machine has 8.0"),
])
def test_sidecar_mismatch_is_refused(tmp_path, field, value, words):
    with pytest.raises(InputError, match=f"m.engine: engine was built for {words}.*rebuild it here"):
        check_sidecar(SIDECAR, path=tmp_path / "m.engine", **{**HERE, field: value})


def test_another_gpu_of_the_same_compute_capability_runs_with_a_warning(tmp_path):
    """TensorRT's own rule: same compute capability loads, with a warning about performance."""
    notes = check_sidecar(SIDECAR, path=tmp_path / "m.engine", **{**HERE, "gpu_name": "NVIDIA H100 PCIe"})
    assert len(notes) == 1 and "built on NVIDIA H100 80GB HBM3, this is NVIDIA H100 PCIe" in notes[0]


def test_the_engine_hash_ties_an_engine_to_its_sidecar(tmp_path):
    sha = "ab" * 32
    check_engine_hash({"engine": {"sha256": sha}}, path=tmp_path / "m.engine", sha256=sha)
    with pytest.raises(InputError, match="the two come from different builds"):
        check_engine_hash({"engine": {"sha256": sha}}, path=tmp_path / "m.engine", sha256="cd" * 32)
    with pytest.raises(InputError, match="m.engine.json: records no engine sha256"):
        check_engine_hash({}, path=tmp_path / "m.engine", sha256=sha)


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
    result = run_cli(["deploy", "build", "--onnx", str(deeplab_onnx[0]),
                      "--out", str(tmp_path / "m.engine")])
    assert result.exit_code == 2 and "pip install -e '.[tensorrt]' in the c2fbench checkout" in result.output
    (tmp_path / "m.engine").write_bytes(b"an engine")
    (tmp_path / "img").mkdir()
    result = run_cli(["predict", "--model", str(tmp_path / "m.engine"), "--images",
                      str(tmp_path / "img"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "'.[tensorrt]'" in result.output


def _needs_tensorrt_and_cuda():
    import torch

    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("needs TensorRT (pip install -e '.[tensorrt]' in the c2fbench checkout, on a machine with an "
                    "NVIDIA GPU)")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU for TensorRT")


@pytest.fixture(scope="module")
def conv_onnx(tmp_path_factory):
    """A small dynamic conv net (3x3 conv, ReLU, dilated 3x3 conv, 2x bilinear down and up)
    exported with c2fbench metadata, whose logits depend on the input and reach several
    units (the deeplab fixture's stay below 0.1 and hardly depend on the input): a tolerance
    relative to their size fails an engine off by a scale, a wrong binding or a wrong dtype."""
    import onnx
    import torch

    from deploy.onnx_meta import INPUT, OUTPUT

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.b = torch.nn.Conv2d(16, 3, 3, padding=2, dilation=2)

        def forward(self, x):
            size = x.shape[-2:]
            y = torch.relu(self.a(x))
            y = torch.nn.functional.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
            return torch.nn.functional.interpolate(self.b(y), size=size, mode="bilinear", align_corners=False)

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.b.weight.mul_(4.0 / net(torch.randn(2, 3, 48, 64)).std())
    path = tmp_path_factory.mktemp("conv") / "conv.onnx"
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation, as in deploy/export.py
        torch.onnx.export(net, (torch.randn(1, 3, 64, 64),), str(path), dynamo=False, input_names=[INPUT],
                          output_names=[OUTPUT], opset_version=17, dynamic_axes={INPUT: axes, OUTPUT: axes})
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"c2fbench.classes": json.dumps(["background", "a", "b"]),
                                        "c2fbench.normalization": json.dumps({"mean": [0, 0, 0], "std": [1, 1, 1]})})
    onnx.save(model, str(path))
    return path


def close_at_scale(got, want, rel: float) -> bool:
    """Every element within ``rel`` of the output's largest magnitude (Polygraphy-like max
    error, scaled): an output off by 2x, or zero, fails whatever ``rel`` below 1."""
    return float(np.abs(got - want).max()) <= rel * float(np.abs(want).max())


def test_the_conv_fixture_is_large_and_input_dependent_and_fp16_stays_close(tmp_path, conv_onnx):
    """On the CPU, the oracle ONNX Runtime: the fixture's logits reach several units and
    change with the input; its FP16 graph (TensorRT 11's route) meets the FP16 tolerance of
    the GPU test, and a logit map off by 2x does not."""
    from deploy.runtimes import OnnxRuntime
    from deploy.tensorrt_build import fp16_onnx

    rng = np.random.default_rng()
    x, y = (rng.standard_normal((2, 3, 48, 80)).astype(np.float32) for _ in range(2))
    ref = OnnxRuntime(conv_onnx)
    a, b = ref.infer(x), ref.infer(y)
    assert np.abs(a).max() > 3 and np.abs(a - b).max() > 1
    half = OnnxRuntime(fp16_onnx(conv_onnx, tmp_path / "c16.onnx")[0]).infer(x)
    assert close_at_scale(half, a, FP16_REL / 4) and not close_at_scale(2 * a, a, FP16_REL)  # a margin of 4


FP16_REL = 1e-2


@pytest.mark.gpu
@pytest.mark.parametrize("precision, rel", [("fp32", 1e-4), ("fp16", FP16_REL)])
def test_engine_matches_onnx_runtime(tmp_path, conv_onnx, precision, rel):
    _needs_tensorrt_and_cuda()
    from c2fbench.inference import Runtime
    from deploy.runtimes import OnnxRuntime, load_runtime
    from deploy.tensorrt_build import build_engine

    engine = tmp_path / f"m-{precision}.engine"
    sidecar = build_engine(conv_onnx, engine, precision=precision, workspace_mb=512,
                           min_shape=(1, 3, 32, 32), opt_shape=(1, 3, 64, 64), max_shape=(2, 3, 128, 128),
                           timing_cache=tmp_path / "timing.cache")
    assert sidecar["precision"] == precision and (tmp_path / "timing.cache").is_file()
    runtime = load_runtime(engine, device="cuda")
    assert isinstance(runtime, Runtime) and runtime.backend == "tensorrt" and runtime.precision == precision
    x = np.random.default_rng().standard_normal((2, 3, 48, 80)).astype(np.float32)
    got, want = runtime.infer(x), OnnxRuntime(conv_onnx).infer(x)
    assert got.dtype == np.float32 and got.shape == want.shape and np.abs(want).max() > 3
    assert close_at_scale(got, want, rel), (precision, float(np.abs(got - want).max()), float(np.abs(want).max()))
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
    assert sidecar["precision"] == "int8" and sidecar["int8_float_layers"] in ("fp16+fp32", "fp32")
    assert sidecar["strongly_typed"] == (sidecar["int8_float_layers"] == "fp32")
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
