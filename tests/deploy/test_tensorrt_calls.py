"""The TensorRT build and run code against a recording stand-in for the ``tensorrt`` module
(no TensorRT or GPU here): which flags an FP32 build sets, and that a False return from a
TensorRT call is an InputError instead of a silent bad result. The stand-in mirrors the
documented return types of TensorRT 10/11 (``set_timing_cache``, ``set_input_shape``,
``set_tensor_address`` and ``execute_async_v3`` return bool)."""

from __future__ import annotations

import enum
import json
import sys
import types

import pytest
import torch

from c2fbench.errors import InputError
from deploy import tensorrt_build
from deploy.tensorrt import TensorRTRuntime
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)


def fake_tensorrt(*, timing_cache_ok=True, has_fp16_flag=True):
    """A ``tensorrt`` stand-in whose builder config records its flags."""
    flags = ["FP16", "TF32"] if has_fp16_flag else ["TF32"]
    BuilderFlag = enum.Enum("BuilderFlag", flags)

    class Config:
        def __init__(self):
            self.flags = {BuilderFlag.TF32}  # TensorRT's default: TF32 on

        def set_memory_pool_limit(self, pool, size):
            pass

        def set_flag(self, flag):
            self.flags.add(flag)

        def clear_flag(self, flag):
            self.flags.discard(flag)

        def get_flag(self, flag):
            return flag in self.flags

        def add_optimization_profile(self, profile):
            pass

        def create_timing_cache(self, data):
            return object()

        def set_timing_cache(self, cache, ignore_mismatch):
            return timing_cache_ok

        def get_timing_cache(self):
            return types.SimpleNamespace(serialize=lambda: b"cache")

    class Builder:
        def __init__(self, logger):
            self.config = Config()

        def create_network(self, flags):
            trt.network_flags = flags
            return object()

        def create_builder_config(self):
            return self.config

        def create_optimization_profile(self):
            return types.SimpleNamespace(set_shape=lambda *shapes: setattr(trt, "profile", shapes))

        def build_serialized_network(self, network, config):
            trt.built_with = set(config.flags)
            return b"plan"

    class OnnxParser:
        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            return True

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0})
    trt = types.SimpleNamespace(Logger=Logger, Builder=Builder, OnnxParser=OnnxParser, BuilderFlag=BuilderFlag,
                                NetworkDefinitionCreationFlag=NetworkDefinitionCreationFlag,
                                __version__="10.13.3.9", MemoryPoolType=types.SimpleNamespace(WORKSPACE=0))
    return trt


def use(monkeypatch, trt):
    """Make ``trt`` the ``tensorrt`` module that the build code imports."""
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt


@pytest.fixture
def no_gpu_needed(monkeypatch):
    monkeypatch.setattr(tensorrt_build, "current_gpu", lambda device: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("fp16", True)])
def test_an_fp32_build_clears_tf32_and_the_sidecar_says_so(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed,
                                                             precision, tf32):
    trt = use(monkeypatch, fake_tensorrt())
    sidecar = tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", precision=precision)
    assert (trt.BuilderFlag.TF32 in trt.built_with) is tf32
    assert (trt.BuilderFlag.FP16 in trt.built_with) is (precision == "fp16")
    assert sidecar["tf32"] is tf32 and trt.network_flags == 0 and not sidecar["strongly_typed"]
    assert json.loads((tmp_path / "m.engine.json").read_text())["tf32"] is tf32


def test_the_builder_reads_the_onnx_input_and_metadata_without_onnx_runtime(tmp_path, deeplab_ckpt, deeplab_onnx,
                                                                           monkeypatch, no_gpu_needed):
    """Input name and shape from the graph (names for dynamic axes, ints for static ones),
    classes and normalisation from metadata_props, read with onnx: no session is opened."""
    import onnx
    import onnxruntime

    from deploy.export import export_onnx

    def no_session(*args, **kwargs):
        raise AssertionError("the builder opened an ONNX Runtime session")
    static = export_onnx(deeplab_ckpt, tmp_path / "static.onnx", height=40, width=56, verify=False).path
    monkeypatch.setattr(onnxruntime, "InferenceSession", no_session)
    trt = use(monkeypatch, fake_tensorrt())
    sidecar = tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", opt_shape=(1, 3, 64, 48))
    props = {p.key: p.value for p in onnx.load(str(deeplab_onnx[0])).metadata_props}
    assert sidecar["classes"] == json.loads(props["c2fbench.classes"])
    assert sidecar["normalization"] == json.loads(props["c2fbench.normalization"])
    assert sidecar["input"] == "image" and trt.profile == ("image", (1, 3, 64, 48), (1, 3, 64, 48), (1, 3, 512, 512))
    sidecar = tensorrt_build.build_engine(static, tmp_path / "s.engine")
    assert sidecar["shapes"] == {"min": [1, 3, 40, 56], "opt": [1, 3, 40, 56], "max": [1, 3, 40, 56]}
    with pytest.raises(InputError, match=r"does not match the static ONNX input \(1, 3, 40, 56\)"):
        tensorrt_build.build_engine(static, tmp_path / "s.engine", opt_shape=(1, 3, 64, 64))


def test_an_int8_build_is_strongly_typed_from_the_q_dq_graph(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    """The Q/DQ graph of `deploy quantize --target tensorrt` is built as a strongly typed
    network (bit 0 of create_network's flags, STRONGLY_TYPED in TensorRT 10), with no
    precision flag (not allowed on a strongly typed network) and TF32 off for its FP32 layers."""
    from deploy.quantize import quantize_static_int8
    from PIL import Image
    import numpy as np

    calib = tmp_path / "calib"
    calib.mkdir()
    for k in range(2):
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(calib / f"{k}.png")
    int8 = quantize_static_int8(deeplab_onnx[0], tmp_path / "q.onnx", calib_images=calib, num=2, target="tensorrt")
    assert int8["target"] == "tensorrt"
    trt = use(monkeypatch, fake_tensorrt())
    sidecar = tensorrt_build.build_engine(tmp_path / "q.onnx", tmp_path / "q.engine", precision="int8")
    assert trt.network_flags == 1 and trt.built_with == set()
    assert sidecar["precision"] == "int8" and sidecar["strongly_typed"] and sidecar["fp16_mode"] is None
    with pytest.raises(InputError, match="no QuantizeLinear/DequantizeLinear nodes"):
        tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "f.engine", precision="int8")
    assert not (tmp_path / "f.engine").exists()


def test_a_refused_timing_cache_is_an_input_error(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    use(monkeypatch, fake_tensorrt(timing_cache_ok=False))
    with pytest.raises(InputError, match=r"cache.bin: TensorRT's set_timing_cache failed"):
        tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", timing_cache=tmp_path / "cache.bin")
    assert not (tmp_path / "m.engine").exists()


class Context:
    """An execution context whose calls return what the test says."""

    def __init__(self, shape_ok=True, address_ok=True):
        self.shape_ok, self.address_ok = shape_ok, address_ok

    def set_input_shape(self, name, shape):
        self.shape = shape
        return self.shape_ok

    def get_tensor_shape(self, name):
        return (self.shape[0], 3, *self.shape[2:])

    def set_tensor_address(self, name, address):
        return self.address_ok


@pytest.mark.parametrize("context, call", [(Context(shape_ok=False), "set_input_shape"),
                                           (Context(address_ok=False), "set_tensor_address")])
def test_a_false_return_when_binding_is_an_input_error(tmp_path, context, call):
    runtime = object.__new__(TensorRTRuntime)
    runtime.path, runtime.context = tmp_path / "m.engine", context
    runtime.input_name, runtime.output_name = "input", "logits"
    runtime.sidecar = {"shapes": {"min": [1, 3, 8, 8], "max": [1, 3, 64, 64]}}
    with pytest.raises(InputError, match=rf"m.engine: TensorRT's {call}\('input'"):
        runtime._bind(torch.zeros(1, 3, 16, 16))
    runtime.context = Context()
    assert tuple(runtime._bind(torch.zeros(1, 3, 16, 16)).shape) == (1, 3, 16, 16)


def test_a_false_return_from_execute_is_an_input_error(tmp_path):
    runtime = object.__new__(TensorRTRuntime)
    runtime.path = tmp_path / "m.engine"
    runtime.stream = types.SimpleNamespace(cuda_stream=0)
    runtime.context = types.SimpleNamespace(execute_async_v3=lambda stream: False)
    with pytest.raises(InputError, match="m.engine: TensorRT's execute_async_v3 failed"):
        runtime._execute()


def test_the_fp16_graph_for_tensorrt_11_keeps_float32_io_and_the_fp32_graphs_answers(tmp_path, deeplab_onnx):
    """The FP16 conversion TensorRT 11 builds from, run by ONNX Runtime on the CPU against the
    FP32 graph it came from (the oracle): FP32 input and output types (the engine's buffers
    are FP32), any input size of the dynamic graph, and the same classes almost everywhere."""
    import warnings

    import numpy as np
    import onnxruntime as ort

    from deploy.tensorrt_build import fp16_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the converter's truncation warnings must not leak
        fp16 = fp16_onnx(deeplab_onnx[0], tmp_path / "m16.onnx")
    import onnx

    weights = onnx.load(str(fp16)).graph.initializer
    assert sum(w.data_type == onnx.TensorProto.FLOAT16 for w in weights) > len(weights) // 2  # really FP16
    ref = ort.InferenceSession(str(deeplab_onnx[0]), providers=["CPUExecutionProvider"])
    half = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"])
    assert [o.type for o in half.get_outputs()] == ["tensor(float)"]
    assert [i.type for i in half.get_inputs()] == ["tensor(float)"]
    for shape in [(1, 3, 64, 48), (1, 3, 97, 131)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        a = ref.run(None, {ref.get_inputs()[0].name: x})[0]
        b = half.run(None, {half.get_inputs()[0].name: x})[0]
        assert b.dtype == np.float32 and b.shape == a.shape
        assert np.abs(a - b).max() < 1e-2 * max(1.0, np.abs(a).max())
        assert (a.argmax(1) == b.argmax(1)).mean() > 0.99
