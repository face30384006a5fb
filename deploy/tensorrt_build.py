"""Building a TensorRT engine from ONNX, and running one (needs TensorRT and a CUDA GPU).

See :mod:`deploy.tensorrt` for the API facts and the sidecar; this module holds the code
that only runs where TensorRT is installed.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.inference import Steps, check_class_names, check_normalization, file_sha256, normalise
from deploy.export import OUTPUT
from deploy.runtimes import check_channels, pick_node
from deploy.tensorrt import (FORMAT, check_graph_precision, check_sidecar, current_gpu, fp16_onnx, import_tensorrt,
                             read_sidecar, shape_profile, sidecar_path)


def checked(ok: bool, path: Path, call: str) -> None:
    """TensorRT reports many failures as a False return, not an exception: raise it."""
    if not ok:
        raise InputError(f"{path}: TensorRT's {call} failed (see TensorRT's messages above)")


def build_engine(onnx_path: Path, out: Path, *, precision: str = "fp32", workspace_mb: int = 4096,
                 min_shape=None, opt_shape=None, max_shape=None, timing_cache: Path | None = None,
                 device: str = "cuda") -> dict:
    """Build ``out`` (serialized engine) and ``out.json`` (sidecar) from ``onnx_path`` on the
    CUDA ``device`` (TensorRT builds for the current device, so it is made current)."""
    import_tensorrt()
    import tensorrt as trt
    import torch
    from c2fbench import __version__
    from c2fbench.data.atomic import atomic_write_bytes, atomic_write_text
    from deploy.runtimes import OnnxRuntime

    meta = OnnxRuntime(onnx_path)  # metadata, input name and shape, on the CPU provider
    check_graph_precision(onnx_path, precision)
    profile = shape_profile(meta.input_shape, min_shape=min_shape, opt_shape=opt_shape, max_shape=max_shape)
    gpu_name, capability = current_gpu(device)
    torch.cuda.set_device(torch.device(device).index or 0)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # explicit batch is the only mode since TensorRT 10; INT8 (Q/DQ) is built strongly typed
    # (TensorRT 11 ignores the flag: every network is)
    strongly_typed = precision == "int8" or not hasattr(trt.BuilderFlag, "FP16")
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
                                     if precision == "int8" else 0)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    fp16_by_flag = precision == "fp16" and hasattr(trt.BuilderFlag, "FP16")  # TensorRT 10
    with tempfile.TemporaryDirectory(prefix="c2fbench-trt-") as tmp:
        source = onnx_path
        if precision == "fp16" and not fp16_by_flag:  # TensorRT 11: strongly typed, FP16 graph
            source = fp16_onnx(onnx_path, Path(tmp) / "fp16.onnx")
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(source)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise InputError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors[:400]}")
    if fp16_by_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    if precision != "fp16" and hasattr(trt.BuilderFlag, "TF32"):
        # TensorRT enables TF32 by default on Ampere and newer: 10-bit mantissas in FP32
        # convolutions, which break FP32 parity with ONNX Runtime. An FP32 build means FP32
        # (and so do the FP32 layers of an INT8 graph, such as its classifier).
        config.clear_flag(trt.BuilderFlag.TF32)
    tf32 = bool(config.get_flag(trt.BuilderFlag.TF32)) if hasattr(trt.BuilderFlag, "TF32") else False
    optimisation = builder.create_optimization_profile()
    optimisation.set_shape(meta.input_name, profile["min"], profile["opt"], profile["max"])
    config.add_optimization_profile(optimisation)
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    checked(config.set_timing_cache(cache, ignore_mismatch=False), Path(timing_cache or onnx_path),
            "set_timing_cache")
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise InputError(f"{onnx_path}: TensorRT could not build an engine (see the messages above)")
    atomic_write_bytes(out, bytes(plan))
    if timing_cache:
        atomic_write_bytes(timing_cache, bytes(config.get_timing_cache().serialize()))
    sidecar = {"format": FORMAT, "tensorrt_version": trt.__version__, "gpu_name": gpu_name,
               "compute_capability": capability, "precision": precision,
               "fp16_mode": None if precision != "fp16" else ("builder flag" if fp16_by_flag else "fp16 onnx"),
               "tf32": tf32, "strongly_typed": strongly_typed,
               "input": meta.input_name, "shapes": {k: list(v) for k, v in profile.items()},
               "workspace_mb": workspace_mb, "classes": meta.classes, "normalization": meta.normalization,
               "onnx": {"path": str(Path(onnx_path).resolve()), "sha256": file_sha256(onnx_path)},
               "c2fbench_version": __version__,
               "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(sidecar_path(out), json.dumps(sidecar, indent=2) + "\n")
    return sidecar


class TensorRTRuntime:
    """A serialized engine run with ``execute_async_v3`` on a CUDA stream of its own (on
    the legacy default stream TensorRT warns and adds a synchronisation), with torch
    tensors as device buffers (no pycuda); refused if built elsewhere."""

    backend = "tensorrt"
    memory_format = "contiguous"
    threads: int | None = None  # the CPU only copies

    def __init__(self, path: Path, *, device: str = "cuda") -> None:
        import_tensorrt()
        import tensorrt as trt
        import torch

        self.path, self.device = Path(path), device if device.startswith("cuda") else "cuda"
        self.sidecar = read_sidecar(self.path)
        name, capability = current_gpu(self.device)
        check_sidecar(self.sidecar, path=self.path, tensorrt_version=trt.__version__, gpu_name=name,
                      compute_capability=capability)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))  # must outlive the engine
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise InputError(f"{self.path}: TensorRT could not deserialize the engine")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.output_name = pick_node(outputs, OUTPUT, path=self.path, what="output")
        where = f"{sidecar_path(self.path)}: "
        self.classes = check_class_names(self.sidecar.get("classes"), where=where + "classes: ")
        self.normalization = check_normalization(self.sidecar.get("normalization"), where=where)
        self.precision = self.sidecar["precision"]
        self.source = {"model": str(self.path.resolve()), "sha256": file_sha256(self.path)}
        self.versions = {"tensorrt": trt.__version__, "torch": torch.__version__}
        self.stream = torch.cuda.Stream(device=self.device)

    def _bind(self, x):
        """Set shapes and addresses for input ``x`` (CUDA tensor); returns the output tensor."""
        import torch

        lo, hi = self.sidecar["shapes"]["min"], self.sidecar["shapes"]["max"]
        if any(not a <= d <= b for a, d, b in zip(lo, x.shape, hi)):
            raise InputError(f"{self.path}: input {tuple(x.shape)} is outside the engine's shape profile "
                             f"{tuple(lo)}..{tuple(hi)}; rebuild with wider --min-shape/--max-shape")
        checked(self.context.set_input_shape(self.input_name, tuple(x.shape)), self.path,
                f"set_input_shape({self.input_name!r}, {tuple(x.shape)})")
        shape = self.context.get_tensor_shape(self.output_name)[:]  # Dims sliced: a tuple of ints
        out = torch.empty(shape, dtype=torch.float32, device=x.device)
        for name, tensor in ((self.input_name, x), (self.output_name, out)):
            checked(self.context.set_tensor_address(name, tensor.data_ptr()), self.path,
                    f"set_tensor_address({name!r})")
        return out

    def _upload(self, batch: np.ndarray):
        """``batch`` as a CUDA tensor, copied on this runtime's stream."""
        import torch

        with torch.cuda.stream(self.stream):
            return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device,
                                                                                     non_blocking=False)

    def _execute(self) -> None:
        checked(self.context.execute_async_v3(self.stream.cuda_stream), self.path, "execute_async_v3")

    def prepare(self, batch: np.ndarray, *, cuda_graph: bool = False) -> Steps:
        """Pinned host buffers and the engine's bindings for ``batch``; with ``cuda_graph``
        the enqueue is captured once (after one plain run, which lets TensorRT allocate
        what it defers to the first run) and each ``compute`` replays it."""
        import torch

        host_in = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
        x = self._upload(batch)
        with torch.cuda.stream(self.stream):  # buffers allocated for the stream that uses them
            out = self._bind(x)
        host_out = torch.empty(tuple(out.shape), dtype=out.dtype, pin_memory=True)
        compute = self._captured() if cuda_graph else self._execute

        def h2d() -> None:
            with torch.cuda.stream(self.stream):
                x.copy_(host_in, non_blocking=True)

        def d2h() -> None:
            with torch.cuda.stream(self.stream):
                host_out.copy_(out, non_blocking=True)
        # the context holds x and out by address only: ``keep`` holds them alive, or torch's
        # allocator could hand their memory to another tensor between runs
        return Steps(compute=compute, h2d=h2d, d2h=d2h, stream=self.stream, cuda_graph=cuda_graph,
                     keep=(x, out, host_in, host_out))

    def _captured(self):
        """A call that replays the engine's enqueue captured in a CUDA graph."""
        import torch

        self._execute()
        self.stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
            self._execute()

        def replay() -> None:
            with torch.cuda.stream(self.stream):
                graph.replay()
        return replay

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = self._upload(batch)
        with torch.cuda.stream(self.stream):
            out = self._bind(x)
        self._execute()
        with torch.cuda.stream(self.stream):
            logits = out.cpu().numpy()  # a synchronous copy on the engine's stream
        check_channels(list(logits.shape), len(self.classes), path=self.path, name=self.output_name, ran=True)
        return logits

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        return self.infer(normalise(rgb, self.normalization).unsqueeze(0).numpy())[0]
