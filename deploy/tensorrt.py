"""TensorRT engines at run time: the JSON sidecar, and a runtime that refuses misfits.

An engine runs only with the TensorRT version and GPU it was built for, so ``FILE.engine.json``
(written by :func:`deploy.tensorrt_build.build_engine`) records them, with shapes, precision,
classes and normalisation, and :class:`TensorRTRuntime` checks them (:func:`check_sidecar`,
a pure function) before deserialising: a mismatch is an InputError with the fix, not a
crash in the runtime. The runtime is written against the TensorRT 10 and 11 Python API
(``reference/deploy-anchors.md`` §1): ``execute_async_v3`` on a CUDA stream of its own, with
torch tensors as device buffers. Calls that report failure by returning False
(``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``; the builder's
``set_timing_cache``) go through :func:`checked`. Only the functions that touch TensorRT or
CUDA need them; the rest is tested on CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.inference import Steps, file_sha256, normalise
from c2fbench.models.metadata import check_class_names, check_normalization
from deploy.onnx_meta import OUTPUT, check_channels, pick_node

FORMAT = "c2fbench-tensorrt-engine"
INSTALL = "TensorRT is not installed; on a machine with an NVIDIA GPU: pip install 'c2fbench[tensorrt]'"


def import_tensorrt():
    """The ``tensorrt`` module, or InputError saying what to install."""
    try:
        import tensorrt
    except ImportError:
        raise InputError(INSTALL) from None
    if not hasattr(tensorrt, "Builder"):  # e.g. only tensorrt-stubs' .pyi files: a namespace package
        raise InputError(INSTALL)
    return tensorrt


def sidecar_path(engine: Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    return Path(engine).with_name(Path(engine).name + ".json")


def check_sidecar(sidecar: dict, *, path: Path, tensorrt_version: str, gpu_name: str,
                  compute_capability: str) -> None:
    """InputError naming ``path`` unless the engine described by ``sidecar`` was built with
    this TensorRT version for this GPU (name and compute capability)."""
    if sidecar.get("format") != FORMAT:
        raise InputError(f"{path}: not a c2fbench engine sidecar (no 'format': {FORMAT!r})")
    built = (sidecar.get("tensorrt_version"), sidecar.get("gpu_name"), sidecar.get("compute_capability"))
    here = (tensorrt_version, gpu_name, compute_capability)
    what = ("TensorRT version", "GPU", "compute capability")
    for label, then, now in zip(what, built, here):
        if then != now:
            raise InputError(f"{path}: engine was built for {label} {then}, this machine has {now}; "
                             "TensorRT engines are not portable: rebuild it here with `c2fbench deploy build`")


def read_sidecar(engine: Path) -> dict:
    """The sidecar of ``engine``; InputError if it is missing, not a regular file, or not a
    JSON object (read by :func:`c2fbench.jsonfile.read_json_object`, depth-bounded)."""
    from c2fbench.jsonfile import read_json_object

    path = sidecar_path(engine)
    if not path.exists():
        raise InputError(f"{path}: engine sidecar not found (build engines with `c2fbench deploy build`, "
                         "which writes it next to the engine)")
    return read_json_object(path, "engine sidecar", max_bytes=16 << 20)


def current_gpu(device: str = "cuda") -> tuple[str, str]:
    """(name, "major.minor") of the CUDA device; InputError without one."""
    import torch

    if not torch.cuda.is_available():
        raise InputError("TensorRT needs a CUDA GPU, and torch sees none")
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def checked(ok: bool, path: Path, call: str) -> None:
    """TensorRT reports many failures as a False return, not an exception: raise it."""
    if not ok:
        raise InputError(f"{path}: TensorRT's {call} failed (see TensorRT's messages above)")


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
