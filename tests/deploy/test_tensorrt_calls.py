"""The TensorRT build and run code against a recording stand-in for the ``tensorrt`` module
(no TensorRT or GPU here): which flags an FP32 build sets, and that a False return from a
TensorRT call is an InputError instead of a silent bad result. The stand-in mirrors the
documented return types of TensorRT 10/11 (``set_timing_cache``, ``set_input_shape``,
``set_tensor_address`` and ``execute_async_v3`` return bool)."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import sys
import types

import numpy as np
import pytest
import torch

from c2fbench.errors import InputError
from deploy import tensorrt, tensorrt_build
from deploy.tensorrt import TensorRTRuntime
from deploy_helpers import deeplab_ckpt, deeplab_onnx  # noqa: F401 (fixtures)


def fake_tensorrt(*, timing_cache_ok=lambda data: True, has_fp16_flag=True, engine=None, context="default"):
    """A ``tensorrt`` stand-in whose builder config records its flags, and whose calls that
    matter for order (plugin registration, parse, deserialisation) are appended to
    ``trt.calls``. ``timing_cache_ok(data)`` answers ``set_timing_cache`` for a cache made
    from ``data``; ``engine`` is what ``deserialize_cuda_engine`` returns (an :class:`Engine`),
    ``context`` what its ``create_execution_context`` returns."""
    flags = ["FP16", "INT8", "TF32"] if has_fp16_flag else ["TF32"]  # TensorRT 11 removed FP16 and INT8
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
            return types.SimpleNamespace(data=bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            trt.calls.append(("timing cache", cache.data, ignore_mismatch))
            return timing_cache_ok(cache.data)

        def get_timing_cache(self):
            return types.SimpleNamespace(serialize=lambda: b"cache")

    class Builder:
        def __init__(self, logger):
            trt.calls.append(("builder", logger))
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
            trt.calls.append(("parser", logger))

        def parse_from_file(self, path):
            trt.calls.append("parse")
            return True

    class Logger:
        WARNING = 2

        def __init__(self, level):
            trt.loggers.append(self)

    class Runtime:
        def __init__(self, logger):
            trt.calls.append(("runtime", logger))

        def deserialize_cuda_engine(self, data):
            trt.calls.append("deserialize")
            return engine

    def init_libnvinfer_plugins(logger, namespace):
        trt.calls.append(("plugins", logger))
        return True

    trt = types.SimpleNamespace(Logger=Logger, Builder=Builder, OnnxParser=OnnxParser, BuilderFlag=BuilderFlag,
                                Runtime=Runtime, init_libnvinfer_plugins=init_libnvinfer_plugins,
                                DataType=DataType, TensorIOMode=TensorIOMode, calls=[], loggers=[],
                                __version__="10.13.3.9", MemoryPoolType=types.SimpleNamespace(WORKSPACE=0))
    if engine is not None:
        engine.context = Context() if context == "default" else context
    return trt


DataType = enum.Enum("DataType", ["FLOAT", "HALF", "BF16", "INT8", "INT32", "INT64", "BOOL", "UINT8", "FP8"])
TensorIOMode = enum.Enum("TensorIOMode", ["INPUT", "OUTPUT"])


class Engine:
    """A deserialised engine with I/O tensors ``(name, mode, dtype)``."""

    def __init__(self, *tensors):
        self.tensors, self.context = tensors, None

    @property
    def num_io_tensors(self):
        return len(self.tensors)

    def get_tensor_name(self, i):
        return self.tensors[i][0]

    def get_tensor_mode(self, name):
        return next(mode for n, mode, _ in self.tensors if n == name)

    def get_tensor_dtype(self, name):
        return next(dtype for n, _, dtype in self.tensors if n == name)

    def create_execution_context(self):
        return self.context


def use(monkeypatch, trt):
    """Make ``trt`` the ``tensorrt`` module that the build code imports."""
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt


@pytest.fixture
def no_gpu_needed(monkeypatch):
    """The CUDA calls around TensorRT's: the devices made current are recorded in ``made_current``."""
    made_current = []

    @contextlib.contextmanager
    def device(index):
        made_current.append(index)
        yield
    monkeypatch.setattr(tensorrt_build, "current_gpu", lambda device: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(tensorrt, "current_gpu", lambda device: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(torch.cuda, "device", device)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: types.SimpleNamespace(device=device, cuda_stream=7))
    return made_current


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


@pytest.fixture(scope="module")
def q_dq_onnx(deeplab_onnx, tmp_path_factory):
    """The Q/DQ graph of `deploy quantize --target tensorrt` for the deeplab fixture."""
    from PIL import Image
    import numpy as np

    from deploy.quantize import quantize_static_int8

    folder = tmp_path_factory.mktemp("int8")
    (folder / "calib").mkdir()
    for k in range(2):
        rgb = np.random.default_rng(k).integers(0, 255, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(folder / "calib" / f"{k}.png")
    int8 = quantize_static_int8(deeplab_onnx[0], folder / "q.onnx", calib_images=folder / "calib", num=2,
                                target="tensorrt")
    assert int8["target"] == "tensorrt"
    return folder / "q.onnx"


@pytest.mark.parametrize("has_fp16_flag", [True, False])
def test_int8_lets_fp16_run_outside_q_dq_on_tensorrt_10_as_trtexec_int8_fp16(
        tmp_path, deeplab_onnx, q_dq_onnx, monkeypatch, no_gpu_needed, has_fp16_flag):
    """TensorRT 10: a weakly typed network with INT8 and FP16 set (trtexec --int8 --fp16), so
    the layers outside Q/DQ may run in FP16 as an FP16 build's do, TF32 left at TensorRT's
    default as there. TensorRT 11 (no precision flags): strongly typed, FP32 outside Q/DQ,
    TF32 cleared. The sidecar says which."""
    trt = use(monkeypatch, fake_tensorrt(has_fp16_flag=has_fp16_flag))
    sidecar = tensorrt_build.build_engine(q_dq_onnx, tmp_path / "q.engine", precision="int8")
    assert trt.network_flags == 0 and sidecar["precision"] == "int8" and sidecar["fp16_mode"] is None
    if has_fp16_flag:
        assert trt.built_with == {trt.BuilderFlag.INT8, trt.BuilderFlag.FP16, trt.BuilderFlag.TF32}
        assert sidecar["int8_float_layers"] == "fp16+fp32" and not sidecar["strongly_typed"] and sidecar["tf32"]
    else:
        assert trt.built_with == set()
        assert sidecar["int8_float_layers"] == "fp32" and sidecar["strongly_typed"] and not sidecar["tf32"]
    with pytest.raises(InputError, match="no QuantizeLinear/DequantizeLinear nodes"):
        tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "f.engine", precision="int8")
    assert not (tmp_path / "f.engine").exists()


def test_plugins_are_registered_once_with_the_one_logger_before_parse_and_deserialise(
        tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    """init_libnvinfer_plugins comes before the first parse and the first deserialisation,
    and one trt.Logger serves every Builder, parser and Runtime of the process."""
    engine = Engine(("image", TensorIOMode.INPUT, DataType.FLOAT), ("logits", TensorIOMode.OUTPUT, DataType.FLOAT))
    trt = use(monkeypatch, fake_tensorrt(engine=engine))
    for name in ("a", "b"):
        tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / f"{name}.engine")
    TensorRTRuntime(tmp_path / "a.engine", device="cuda")
    assert len(trt.loggers) == 1
    logger = trt.loggers[0]
    order = [c if isinstance(c, str) else c[0] for c in trt.calls]
    assert order[0] == "plugins" and order.count("plugins") == 1
    assert order.index("plugins") < order.index("parse") < order.index("deserialize")
    assert all(c[1] is logger for c in trt.calls if isinstance(c, tuple) and c[0] in ("builder", "parser", "runtime"))
    assert no_gpu_needed and set(no_gpu_needed) == {0}  # "cuda": the current device, made current


def test_a_timing_cache_from_elsewhere_is_replaced_by_an_empty_one(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed,
                                                                   capsys):
    """set_timing_cache(ignore_mismatch=False) refuses a cache of another GPU, driver or
    TensorRT: the build goes on with an empty cache, says so, and writes the new one."""
    cache = tmp_path / "cache.bin"
    cache.write_bytes(b"old GPU")
    trt = use(monkeypatch, fake_tensorrt(timing_cache_ok=lambda data: data != b"old GPU"))
    sidecar = tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", timing_cache=cache)
    assert [c[1:] for c in trt.calls if c[0] == "timing cache"] == [(b"old GPU", False), (b"", False)]
    assert sidecar["timing_cache"] == "replaced" and cache.read_bytes() == b"cache"
    assert "cache.bin: timing cache from another GPU, driver or TensorRT version" in capsys.readouterr().err
    assert tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", timing_cache=cache)["timing_cache"] \
        == "reused"
    assert tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine")["timing_cache"] is None


def test_an_empty_timing_cache_refused_is_an_input_error(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    use(monkeypatch, fake_tensorrt(timing_cache_ok=lambda data: False))
    with pytest.raises(InputError, match=r"cache.bin: TensorRT's set_timing_cache failed"):
        tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", timing_cache=tmp_path / "cache.bin")
    assert not (tmp_path / "m.engine").exists()


def test_the_sidecar_records_the_engine_s_sha256_and_never_outlives_a_rebuild(tmp_path, deeplab_onnx, monkeypatch,
                                                                               no_gpu_needed):
    """The sidecar carries the engine's sha256 (hashlib over the file, the oracle). A rebuild
    whose sidecar write fails leaves the new engine without a sidecar, not beside the old one;
    a timing cache write that fails leaves the pair complete."""
    from c2fbench import atomic
    from c2fbench.errors import InputError as Refused

    use(monkeypatch, fake_tensorrt())
    engine = tmp_path / "m.engine"
    sidecar = tensorrt_build.build_engine(deeplab_onnx[0], engine)
    assert sidecar["engine"] == {"sha256": hashlib.sha256(engine.read_bytes()).hexdigest(), "bytes": 4}
    text, data = atomic.atomic_write_text, atomic.atomic_write_bytes

    def refuse(path, content):
        raise Refused(f"{path}: could not write (disk full)")
    monkeypatch.setattr(atomic, "atomic_write_text", refuse)
    with pytest.raises(InputError, match="m.engine.json: could not write"):
        tensorrt_build.build_engine(deeplab_onnx[0], engine, opt_shape=(1, 3, 64, 64))
    assert engine.exists() and not (tmp_path / "m.engine.json").exists()
    monkeypatch.setattr(atomic, "atomic_write_text", text)
    monkeypatch.setattr(atomic, "atomic_write_bytes", lambda path, content: (refuse if "cache" in str(path)
                                                                             else data)(path, content))
    with pytest.raises(InputError, match="cache.bin: could not write"):
        tensorrt_build.build_engine(deeplab_onnx[0], engine, timing_cache=tmp_path / "cache.bin")
    assert json.loads((tmp_path / "m.engine.json").read_text())["engine"]["sha256"] == \
        hashlib.sha256(engine.read_bytes()).hexdigest()


def test_a_file_without_c2fbench_metadata_builds_for_latency_only(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    """What `deploy profile --backend tensorrt` needs of an ONNX file from elsewhere: with
    metadata_optional the sidecar has no classes, and the runtime refuses to label images."""
    import onnx

    model = onnx.load(str(deeplab_onnx[0]))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "theirs.onnx"))
    engine = Engine(("image", TensorIOMode.INPUT, DataType.FLOAT), ("logits", TensorIOMode.OUTPUT, DataType.FLOAT))
    use(monkeypatch, fake_tensorrt(engine=engine))
    with pytest.raises(InputError, match="lacks the metadata"):
        tensorrt_build.build_engine(tmp_path / "theirs.onnx", tmp_path / "m.engine")
    sidecar = tensorrt_build.build_engine(tmp_path / "theirs.onnx", tmp_path / "m.engine", metadata_optional=True)
    assert sidecar["classes"] is None and sidecar["normalization"] is None and sidecar["input"] == "image"
    runtime = TensorRTRuntime(tmp_path / "m.engine")
    assert runtime.classes is None
    with pytest.raises(InputError, match="m.engine: built for latency only"):
        runtime.logits(np.zeros((8, 8, 3), np.uint8))
    from deploy.foreign import MetadataOverride
    from deploy.runtimes import load_runtime

    named = load_runtime(tmp_path / "m.engine", device="cuda", override=MetadataOverride.from_options(
        "mit", None, None, True))  # --classes mit --no-normalize, as for an ONNX file without metadata
    assert named.classes == ["background", "foreground"] and named.normalization == {"mean": [0.0] * 3,
                                                                                      "std": [1.0] * 3}


class Context:
    """An execution context whose calls return what the test says, recording addresses."""

    def __init__(self, shape_ok=True, address_ok=True):
        self.shape_ok, self.address_ok, self.addresses = shape_ok, address_ok, {}

    def set_input_shape(self, name, shape):
        self.shape = shape
        return self.shape_ok

    def get_tensor_shape(self, name):
        return (self.shape[0], 3 if name == "logits" else 1, *self.shape[2:])

    def set_tensor_address(self, name, address):
        self.addresses[name] = address
        return self.address_ok


def bare_runtime(tmp_path, context, **dtypes):
    """A TensorRTRuntime with only what binding reads: input ``input``, outputs ``aux`` and
    ``logits`` (in that engine order), float32 unless ``dtypes`` says otherwise."""
    runtime = object.__new__(TensorRTRuntime)
    runtime.path, runtime.context = tmp_path / "m.engine", context
    runtime.input_name, runtime.output_names, runtime.output_name = "input", ["aux", "logits"], "logits"
    runtime.dtypes = {"input": torch.float32, "aux": torch.float32, "logits": torch.float32, **dtypes}
    runtime.sidecar = {"shapes": {"min": [1, 3, 8, 8], "max": [1, 3, 64, 64]}}
    return runtime


@pytest.mark.parametrize("context, call", [(Context(shape_ok=False), "set_input_shape"),
                                           (Context(address_ok=False), "set_tensor_address")])
def test_a_false_return_when_binding_is_an_input_error(tmp_path, context, call):
    with pytest.raises(InputError, match=rf"m.engine: TensorRT's {call}\('input'"):
        bare_runtime(tmp_path, context)._bind(torch.zeros(1, 3, 16, 16))
    outputs = bare_runtime(tmp_path, Context())._bind(torch.zeros(1, 3, 16, 16))
    assert tuple(outputs["logits"].shape) == (1, 3, 16, 16)


def test_every_output_gets_an_address_typed_as_the_engine_says(tmp_path):
    """NVIDIA's do_inference sets an address for every I/O tensor; c2fbench reads ``logits``
    even when another output comes first, in the engine's dtype (here FP16)."""
    context = Context()
    outputs = bare_runtime(tmp_path, context, logits=torch.float16)._bind(torch.zeros(1, 3, 16, 16))
    assert set(context.addresses) == {"input", "aux", "logits"}
    assert context.addresses["logits"] == outputs["logits"].data_ptr() != context.addresses["aux"]
    assert outputs["logits"].dtype == torch.float16 and tuple(outputs["aux"].shape) == (1, 1, 16, 16)


def test_the_runtime_reads_the_engine_s_io_and_makes_its_device_current(tmp_path, deeplab_onnx, monkeypatch,
                                                                        no_gpu_needed):
    engine = Engine(("image", TensorIOMode.INPUT, DataType.HALF), ("aux", TensorIOMode.OUTPUT, DataType.FLOAT),
                    ("logits", TensorIOMode.OUTPUT, DataType.HALF))
    use(monkeypatch, fake_tensorrt(engine=engine))
    tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine", device="cuda:1")
    runtime = TensorRTRuntime(tmp_path / "m.engine", device="cuda:1")
    assert no_gpu_needed == [1, 1] and runtime.device == "cuda:1" and runtime.stream.device == "cuda:1"
    assert (runtime.input_name, runtime.output_name, runtime.output_names) == ("image", "logits", ["aux", "logits"])
    assert runtime.dtypes == {"image": torch.float16, "aux": torch.float32, "logits": torch.float16}
    assert runtime._host_input(np.ones((1, 3, 8, 8), np.float32)).dtype == torch.float16
    engine.tensors += (("mask", TensorIOMode.INPUT, DataType.FLOAT),)
    with pytest.raises(InputError, match="m.engine: the engine has 2 inputs"):
        TensorRTRuntime(tmp_path / "m.engine", device="cuda:1")
    engine.tensors = (("image", TensorIOMode.INPUT, DataType.FP8), ("logits", TensorIOMode.OUTPUT, DataType.FLOAT))
    with pytest.raises(InputError, match="engine tensor 'image' is DataType.FP8"):
        TensorRTRuntime(tmp_path / "m.engine", device="cuda:1")


def test_no_execution_context_is_an_input_error(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    engine = Engine(("image", TensorIOMode.INPUT, DataType.FLOAT), ("logits", TensorIOMode.OUTPUT, DataType.FLOAT))
    use(monkeypatch, fake_tensorrt(engine=engine, context=None))
    tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine")
    with pytest.raises(InputError, match="m.engine: TensorRT could not create an execution context"):
        TensorRTRuntime(tmp_path / "m.engine")


def test_an_engine_and_a_sidecar_of_another_build_are_refused(tmp_path, deeplab_onnx, monkeypatch, no_gpu_needed):
    engine = Engine(("image", TensorIOMode.INPUT, DataType.FLOAT), ("logits", TensorIOMode.OUTPUT, DataType.FLOAT))
    use(monkeypatch, fake_tensorrt(engine=engine))
    tensorrt_build.build_engine(deeplab_onnx[0], tmp_path / "m.engine")
    (tmp_path / "m.engine").write_bytes(b"another plan")
    with pytest.raises(InputError, match="m.engine: the engine's sha256 .* is not the one its sidecar records"):
        TensorRTRuntime(tmp_path / "m.engine")


def test_a_failed_cuda_graph_capture_falls_back_to_plain_enqueues(tmp_path, monkeypatch, no_gpu_needed, capsys):
    """trtexec's behaviour: the capture is ended, --useCudaGraph ignored, with a warning."""
    runs = []
    runtime = object.__new__(TensorRTRuntime)
    runtime.path, runtime.index = tmp_path / "m.engine", 0
    runtime.stream = types.SimpleNamespace(cuda_stream=7, synchronize=lambda: None)
    runtime.context = types.SimpleNamespace(execute_async_v3=lambda stream: runs.append(stream) or True)

    @contextlib.contextmanager
    def graph(g, stream, capture_error_mode):
        yield
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: object())
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    assert runtime._captured() is None and runs == [7, 7]
    assert "m.engine: CUDA graph capture failed (CUDA error: operation not permitted" in capsys.readouterr().err


def test_tensorrt_libraries_that_do_not_load_are_an_input_error(tmp_path, monkeypatch):
    """A TensorRT whose shared libraries exist but fail to load raises OSError from ctypes."""
    from deploy.tensorrt import import_tensorrt

    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.py").write_text(
        "raise OSError('libnvinfer.so.10: cannot open shared object file: No such file or directory')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    with pytest.raises(InputError, match=r"TensorRT is installed but its libraries do not load \(libnvinfer.so.10"):
        import_tensorrt()


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
        fp16, clamped = fp16_onnx(deeplab_onnx[0], tmp_path / "m16.onnx")
    assert clamped["large"] == 0
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


def test_fp16_conversion_warns_when_it_clamps_large_weights(tmp_path, capsys):
    """onnxconverter-common clamps |w| >= 1e4 to 1e4 (the model changes: a warning) and
    0 < |w| <= 1e-7 to 1e-7 (counted only); here one weight of each, in a hand-made graph."""
    import onnx
    from onnx import TensorProto, helper

    from deploy.tensorrt_build import clamp_counts, fp16_onnx

    graph = helper.make_graph(
        [helper.make_node("Mul", ["image", "big"], ["m"]), helper.make_node("Add", ["m", "tiny"], ["logits"])], "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 4, 4])],
        initializer=[helper.make_tensor("big", TensorProto.FLOAT, [], [2.5e4]),
                     helper.make_tensor("tiny", TensorProto.FLOAT, [], [1e-9])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "m.onnx"))
    _, clamped = fp16_onnx(tmp_path / "m.onnx", tmp_path / "m16.onnx")
    assert clamped == {"large": 1, "tiny": 1}
    assert "m.onnx: FP16 conversion clamped 1 weight tensor(s) with |w| >= 1e4 to 1e4" in capsys.readouterr().err
    assert clamp_counts(["the float32 number 25000.0 will be truncated to 10000.0", "something else",
                         "the float32 number -1e-09 will be truncated to -1e-07"]) == {"large": 1, "tiny": 1}
