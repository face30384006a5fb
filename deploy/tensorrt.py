"""TensorRT engines at run time: the JSON sidecar, and a runtime that refuses misfits.

An engine runs only with the TensorRT version and the compute capability it was built for
(on another GPU model of that capability it runs, with a warning, as TensorRT's own rule
says), so ``FILE.engine.json`` (written by :func:`deploy.tensorrt_build.build_engine`)
records them, with the engine's sha256, shapes, precision, classes and normalisation, and
:class:`TensorRTRuntime` checks them (:func:`check_sidecar`, :func:`check_engine_hash`, pure
functions) before deserialising: a mismatch is an InputError with the fix, not a crash in
the runtime. One ``trt.Logger`` serves the process, with TensorRT's plugins registered
(:func:`tensorrt_logger`). The runtime is written against the TensorRT 10 and 11 Python API
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
from c2fbench.files import file_sha256
from c2fbench.inference import Steps, normalise
from c2fbench.models.metadata import check_class_names, check_normalization
from deploy.onnx_meta import OUTPUT, check_channels, pick_node

FORMAT = "c2fbench-tensorrt-engine"
INSTALL = ("TensorRT is not installed; on a machine with an NVIDIA GPU: pip install -e '.[tensorrt]' in the "
           "c2fbench checkout")
REBUILD = "rebuild it here with `c2fbench deploy build`"


def import_tensorrt():
    """The ``tensorrt`` module, or InputError saying what to install; a TensorRT whose
    libraries are found but do not load (a CUDA mismatch, a missing libcudnn) raises OSError
    from ``ctypes``, turned into an InputError naming the library."""
    try:
        import tensorrt
    except ImportError:
        raise InputError(INSTALL) from None
    except OSError as e:
        raise InputError(f"TensorRT is installed but its libraries do not load ({e}); install the TensorRT "
                         "build for this machine's CUDA (pip install -e '.[tensorrt]' in the c2fbench checkout; "
                         "tensorrt-cu12 for CUDA 12)") from None
    if not hasattr(tensorrt, "Builder"):  # e.g. only tensorrt-stubs' .pyi files: a namespace package
        raise InputError(INSTALL)
    return tensorrt


_LOGGER: tuple | None = None  # (tensorrt module, its logger): one per process


def tensorrt_logger():
    """The process's one ``trt.Logger`` (TensorRT keeps the first logger it is given and
    warns when another comes: NVIDIA/TensorRT#1475), made on first use together with
    ``init_libnvinfer_plugins``, which registers TensorRT's plugins before any parse or
    deserialisation (as Polygraphy does): a graph or engine using one needs it."""
    global _LOGGER
    trt = import_tensorrt()
    if _LOGGER is None or _LOGGER[0] is not trt:
        logger = trt.Logger(trt.Logger.WARNING)
        if not trt.init_libnvinfer_plugins(logger, ""):
            from c2fbench.console import warn

            warn("TensorRT's plugin library did not register its plugins (init_libnvinfer_plugins); "
                 "a graph or engine that uses one will fail to load")
        _LOGGER = (trt, logger)
    return _LOGGER[1]


def sidecar_path(engine: Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    return Path(engine).with_name(Path(engine).name + ".json")


def check_sidecar(sidecar: dict, *, path: Path, tensorrt_version: str, gpu_name: str,
                  compute_capability: str) -> list[str]:
    """InputError naming ``path`` unless the engine described by ``sidecar`` was built with
    this TensorRT version for this compute capability; returns the warnings to print.

    TensorRT's own rule: an engine runs on a GPU of the compute capability it was built for,
    and on another model of that capability it loads with a warning ("Using an engine plan
    file across different models of devices is not recommended"): its kernels were chosen for
    the other GPU's SM count and memory, so its timings may not be this GPU's best."""
    if sidecar.get("format") != FORMAT:
        raise InputError(f"{path}: not a c2fbench engine sidecar (no 'format': {FORMAT!r})")
    built = (sidecar.get("tensorrt_version"), sidecar.get("compute_capability"))
    for label, then, now in zip(("TensorRT version", "compute capability"), built,
                                (tensorrt_version, compute_capability)):
        if then != now:
            raise InputError(f"{path}: engine was built for {label} {then}, this machine has {now}; "
                             f"TensorRT engines are not portable: {REBUILD}")
    if sidecar.get("gpu_name") != gpu_name:
        return [f"{path}: engine was built on {sidecar.get('gpu_name')}, this is {gpu_name} (same compute capability "
                f"{compute_capability}): it runs, with kernels chosen for the other GPU; for timings, {REBUILD}"]
    return []


def check_engine_hash(sidecar: dict, *, path: Path, sha256: str) -> None:
    """InputError unless ``sidecar`` describes the engine file ``path`` (of hash ``sha256``):
    a rebuild that failed between writing the engine and its sidecar, or an engine copied
    without its own sidecar, must not run under another build's shapes and classes."""
    recorded = (sidecar.get("engine") or {}).get("sha256") if isinstance(sidecar.get("engine"), dict) else None
    if recorded is None:
        raise InputError(f"{sidecar_path(path)}: records no engine sha256 (written by an older c2fbench); {REBUILD}")
    if recorded != sha256:
        raise InputError(f"{path}: the engine's sha256 {sha256[:12]}... is not the one its sidecar records "
                         f"({str(recorded)[:12]}...): the two come from different builds; {REBUILD}")


def read_sidecar(engine: Path) -> dict:
    """The sidecar of ``engine``; InputError if it is missing, not a regular file, or not a
    JSON object (read by :func:`c2fbench.jsonfile.read_json_object`, depth-bounded)."""
    from c2fbench.jsonfile import read_json_object

    path = sidecar_path(engine)
    if not path.exists():
        raise InputError(f"{path}: engine sidecar not found (build engines with `c2fbench deploy build`, "
                         "which writes it next to the engine)")
    return read_json_object(path, "engine sidecar", max_bytes=16 << 20)


def device_index(device: str = "cuda") -> int:
    """The CUDA device index of ``device`` ("cuda": the current device)."""
    import torch

    index = torch.device(device).index
    return torch.cuda.current_device() if index is None else index


def current_gpu(device: str = "cuda") -> tuple[str, str]:
    """(name, "major.minor") of the CUDA device; InputError without one."""
    import torch

    if not torch.cuda.is_available():
        raise InputError("TensorRT needs a CUDA GPU, and torch sees none")
    index = device_index(device)
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}"


def checked(ok: bool, path: Path, call: str) -> None:
    """TensorRT reports many failures as a False return, not an exception: raise it."""
    if not ok:
        raise InputError(f"{path}: TensorRT's {call} failed (see TensorRT's messages above)")


def torch_dtype(trt, dtype, *, path: Path, name: str):
    """The torch dtype of an engine I/O tensor's ``trt.DataType``; InputError for the
    types a buffer of c2fbench's cannot hold (FP8, INT4, FP4)."""
    import torch

    types = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.BF16: torch.bfloat16,
             trt.DataType.INT8: torch.int8, trt.DataType.INT32: torch.int32, trt.DataType.INT64: torch.int64,
             trt.DataType.BOOL: torch.bool, trt.DataType.UINT8: torch.uint8}
    if dtype not in types:
        raise InputError(f"{path}: engine tensor {name!r} is {dtype}, which c2fbench cannot feed or read")
    return types[dtype]


class TensorRTRuntime:
    """A serialized engine run with ``execute_async_v3`` on a CUDA stream of its own (on
    the legacy default stream TensorRT warns and adds a synchronisation), with torch
    tensors as device buffers (no pycuda); refused if built elsewhere or if its sidecar is
    another build's.

    Every I/O tensor gets an address (TensorRT needs one for each, as NVIDIA's
    ``do_inference`` sets them all), typed as the engine says (``get_tensor_dtype``: an
    FP16-I/O engine reads and writes half floats); the output read is the one named
    ``logits``, as for ONNX Runtime. The runtime's device is made current around every
    TensorRT and CUDA call (trtexec calls ``cudaSetDevice`` first): ``cuda:1`` runs there.
    A sidecar without classes (an engine built for latency from an ONNX file without
    c2fbench metadata) loads with ``classes`` and ``normalization`` None, as
    :class:`deploy.runtimes.OnnxRuntime` does: ``logits`` refuses to run."""

    backend = "tensorrt"
    memory_format = "contiguous"
    threads: int | None = None  # the CPU only copies

    def __init__(self, path: Path, *, device: str = "cuda") -> None:
        trt = import_tensorrt()
        import torch

        from c2fbench.console import warn

        self.path, self.device = Path(path), device if device.startswith("cuda") else "cuda"
        self.sidecar = read_sidecar(self.path)
        name, capability = current_gpu(self.device)
        for message in check_sidecar(self.sidecar, path=self.path, tensorrt_version=trt.__version__, gpu_name=name,
                                     compute_capability=capability):
            warn(message)
        self.source = {"model": str(self.path.resolve()), "sha256": file_sha256(self.path)}
        check_engine_hash(self.sidecar, path=self.path, sha256=self.source["sha256"])
        self.index = device_index(self.device)
        self.device = f"cuda:{self.index}"
        with torch.cuda.device(self.index):  # TensorRT loads and allocates on the current device
            self.runtime = trt.Runtime(tensorrt_logger())  # must outlive the engine
            self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise InputError(f"{self.path}: TensorRT could not deserialize the engine")
            self.context = self.engine.create_execution_context()
            if self.context is None:  # TensorRT returns None when it cannot, e.g. out of device memory
                raise InputError(f"{self.path}: TensorRT could not create an execution context (device memory "
                                 "for its activations? see TensorRT's messages above)")
            self.stream = torch.cuda.Stream(device=self.device)
        self._read_io(trt)
        where = f"{sidecar_path(self.path)}: "
        classes, normalization = self.sidecar.get("classes"), self.sidecar.get("normalization")
        self.classes = None if classes is None else check_class_names(classes, where=where + "classes: ")
        self.normalization = None if normalization is None else check_normalization(normalization, where=where)
        self.precision = self.sidecar["precision"]
        self.versions = {"tensorrt": trt.__version__, "torch": torch.__version__,
                         "engine_gpu": self.sidecar.get("gpu_name")}

    def _read_io(self, trt) -> None:
        """Names, modes and torch dtypes of the engine's I/O tensors."""
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1:
            raise InputError(f"{self.path}: the engine has {len(inputs)} inputs ({', '.join(map(repr, inputs))}); "
                             "c2fbench feeds one, the normalised image")
        self.input_name = inputs[0]
        self.output_name = pick_node(self.output_names, OUTPUT, path=self.path, what="output")
        self.dtypes = {n: torch_dtype(trt, self.engine.get_tensor_dtype(n), path=self.path, name=n) for n in names}

    def _on_device(self):
        """This runtime's device current, and its stream current on it."""
        import contextlib

        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.cuda.device(self.index))
        stack.enter_context(torch.cuda.stream(self.stream))
        return stack

    def _bind(self, x):
        """Set the input shape and every I/O tensor's address for input ``x`` (a CUDA tensor
        of the input's dtype); returns the output tensors by name."""
        import torch

        lo, hi = self.sidecar["shapes"]["min"], self.sidecar["shapes"]["max"]
        if any(not a <= d <= b for a, d, b in zip(lo, x.shape, hi)):
            raise InputError(f"{self.path}: input {tuple(x.shape)} is outside the engine's shape profile "
                             f"{tuple(lo)}..{tuple(hi)}; rebuild with wider --min-shape/--max-shape")
        checked(self.context.set_input_shape(self.input_name, tuple(x.shape)), self.path,
                f"set_input_shape({self.input_name!r}, {tuple(x.shape)})")
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name)[:])  # Dims sliced: a tuple of ints
            if any(d < 0 for d in shape):
                raise InputError(f"{self.path}: output {name!r} has a data-dependent shape {shape}, which c2fbench's "
                                 "runtime does not allocate")
            outputs[name] = torch.empty(shape, dtype=self.dtypes[name], device=x.device)
        for name, tensor in ((self.input_name, x), *outputs.items()):
            checked(self.context.set_tensor_address(name, tensor.data_ptr()), self.path,
                    f"set_tensor_address({name!r})")
        return outputs

    def _host_input(self, batch: np.ndarray):
        """``batch`` as a CPU tensor of the engine input's dtype."""
        import torch

        return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.dtypes[self.input_name])

    def _execute(self) -> None:
        checked(self.context.execute_async_v3(self.stream.cuda_stream), self.path, "execute_async_v3")

    def prepare(self, batch: np.ndarray, *, cuda_graph: bool = False) -> Steps:
        """Pinned host buffers and the engine's bindings for ``batch``; with ``cuda_graph``
        the enqueue is captured once (after one plain run, which lets TensorRT allocate
        what it defers to the first run) and each ``compute`` replays it. A capture that
        fails falls back to plain enqueues, with a warning, as trtexec does; the Steps then
        say ``cuda_graph`` False, and so does the profile."""
        import torch

        host_in = self._host_input(batch).pin_memory()
        with self._on_device():  # buffers allocated for the stream that uses them
            x = host_in.to(self.device)
            outputs = self._bind(x)
        out = outputs[self.output_name]
        host_out = torch.empty(tuple(out.shape), dtype=out.dtype, pin_memory=True)
        compute = self._captured() if cuda_graph else None

        def execute() -> None:
            with self._on_device():
                self._execute()

        def h2d() -> None:
            with self._on_device():
                x.copy_(host_in, non_blocking=True)

        def d2h() -> None:
            with self._on_device():
                host_out.copy_(out, non_blocking=True)
        # the context holds x and the outputs by address only: ``keep`` holds them alive, or torch's
        # allocator could hand their memory to another tensor between runs
        return Steps(compute=compute or execute, h2d=h2d, d2h=d2h, stream=self.stream, cuda_graph=compute is not None,
                     keep=(x, out, host_in, host_out, outputs))

    def _captured(self):
        """A call that replays the engine's enqueue captured in a CUDA graph, or None (with a
        warning) when the capture fails: trtexec ends the capture, warns that
        ``--useCudaGraph`` is ignored and runs without the graph."""
        import torch

        from c2fbench.console import warn

        with self._on_device():
            self._execute()
            self.stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
                    self._execute()
            except (RuntimeError, InputError) as e:  # the capture is ended by torch.cuda.graph's exit
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                warn(f"{self.path}: CUDA graph capture failed ({first}); --cuda-graph is ignored, the engine runs "
                     "without the graph (profile.json says cuda_graph false)")
                self.stream.synchronize()
                return None

        def replay() -> None:
            with self._on_device():
                graph.replay()
        return replay

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The ``logits`` output for ``batch`` (B, 3, H, W), as float32 whatever the engine's
        output type."""
        import torch

        host_in = self._host_input(batch)
        with self._on_device():
            x = host_in.to(self.device)
            out = self._bind(x)[self.output_name]
            self._execute()
            if out.is_floating_point():
                out = out.to(torch.float32)
            logits = out.cpu().numpy()  # a synchronous copy on the engine's stream
        if self.classes is not None:
            check_channels(list(logits.shape), len(self.classes), path=self.path, name=self.output_name, ran=True)
        return logits

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        if self.normalization is None:
            raise InputError(f"{self.path}: built for latency only (from an ONNX file without c2fbench metadata); "
                             "tag the ONNX file with `c2fbench deploy tag` and rebuild")
        return self.infer(normalise(rgb, self.normalization).unsqueeze(0).numpy())[0]
