"""Runtimes by file type, each a :class:`c2fbench.inference.Runtime`, so that
``ModelPredictions``, ``predict_label``, parity and the profiler take any of them unchanged.

:func:`load_runtime` picks the implementation from the file's suffix: ``.pt`` PyTorch
(:class:`c2fbench.inference.ModuleRuntime`), ``.onnx`` ONNX Runtime (:class:`OnnxRuntime`,
here), ``.engine`` / ``.plan`` TensorRT (:class:`deploy.tensorrt.TensorRTRuntime`); a state
dict (``.pth``) with the network ``--arch`` names, PyTorch (:mod:`deploy.user_models`). Every
runtime normalises with :func:`c2fbench.inference.normalise`, so the numbers of ``c2fbench
eval --model`` depend on the model, not on the file type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.files import MAX_MODEL_BYTES, check_regular_file, file_sha256
from c2fbench.inference import Runtime, Steps, load_torch_runtime, normalise
from deploy.foreign import FLAGS_HINT, MetadataOverride
from deploy.onnx_meta import (OUTPUT, check_channels, check_input, check_output, onnx_precision, pick_node,
                              read_onnx_metadata)
from deploy.user_models import Arch


SUFFIXES = {".pt": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}
TORCHVISION_PREFIX = "torchvision:"  # --model torchvision:NAME --weights FILE
STATE_DICT_SUFFIXES = (".pth", ".bin", ".ckpt")  # weights alone: --model FILE --arch ...


def load_runtime(path: Path, *, device: str = "cpu", threads: int | None = None,
                 override: MetadataOverride | None = None, weights: Path | None = None,
                 metadata_optional: bool = False, arch: Arch | None = None) -> Runtime:
    """The runtime for ``path`` by its suffix (see :data:`SUFFIXES`), for ``torchvision:NAME``
    with ``weights`` (:mod:`deploy.torchvision_models`), or for a state dict ``path`` with the
    network ``arch`` names (``--arch``, :mod:`deploy.user_models`); InputError if unknown.
    ``override`` gives the classes and normalisation of a file without c2fbench metadata
    (:class:`deploy.foreign.MetadataOverride`); ``metadata_optional`` lets an ONNX file
    without either load for latency alone (no class names, no normalisation)."""
    if arch is not None:
        from deploy.user_models import load_arch_runtime, model_and_arch

        file, arch = model_and_arch(path, weights=weights, arch=arch)
        return load_arch_runtime(file, arch, device=device, threads=threads, override=override)
    if str(path).startswith(TORCHVISION_PREFIX):
        from deploy.torchvision_models import load_torchvision_runtime

        return load_torchvision_runtime(str(path)[len(TORCHVISION_PREFIX):], weights, device=device, threads=threads,
                                        override=override)
    path = Path(path)
    if weights is not None:
        raise InputError(f"--weights is for --model torchvision:NAME; {path} holds its own weights")
    backend = SUFFIXES.get(path.suffix.lower())
    if backend is None and path.suffix.lower() in STATE_DICT_SUFFIXES:
        raise InputError(f"{path}: a {path.suffix} file holds weights without their network; name it with --arch "
                         f"torchvision:NAME or --arch module.path:function (see docs/models-from-elsewhere.md)")
    if backend is None:
        raise InputError(f"{path}: unknown model file type {path.suffix!r}; expected a checkpoint (.pt), "
                         "an ONNX file (.onnx) or a TensorRT engine (.engine, .plan)")
    check_regular_file(path, max_bytes=MAX_MODEL_BYTES, what="model file")  # a FIFO would hang the loader
    if backend == "onnxruntime":
        return OnnxRuntime(path, device=device, threads=threads, override=override, metadata_optional=metadata_optional)
    if backend == "torch":
        runtime = load_torch_runtime(path, device=device, threads=threads)
    else:
        from deploy.tensorrt import TensorRTRuntime

        runtime = TensorRTRuntime(path, device=device)
    if override is not None and runtime.classes is None:  # an engine built for latency from a file without metadata
        given = override.apply(None, path=path, channels=None)
        runtime.classes, runtime.normalization = given["classes"], given["normalization"]
    elif override is not None:  # flags given for a file that names its own: they must agree with it
        override.apply({"classes": runtime.classes, "normalization": runtime.normalization}, path=path,
                       channels=len(runtime.classes))
    return runtime


class OnnxRuntime:
    """An exported ONNX file run by ONNX Runtime: CPU execution provider, or CUDA with
    ``device="cuda"`` or ``"cuda:N"`` (needs onnxruntime-gpu). ``threads`` sets intra-op
    threads (None: ORT's default, one per physical core).

    On CUDA the session computes on a torch CUDA stream of the runtime's own (the provider's
    ``user_compute_stream``), so that :meth:`prepare` can time it as TensorRT is timed:
    I/O binding to device buffers, pinned host copies on that stream, CUDA events between.

    Classes and normalisation come from the file's metadata, or from ``override`` for a file
    without (:meth:`deploy.foreign.MetadataOverride.apply`). With ``metadata_optional`` a file
    without either still loads, for latency alone: ``classes`` and ``normalization`` are
    None, so ``logits`` refuses to run and ``infer`` checks no channel count. Without
    ``read_metadata`` the file's metadata is not even read (``deploy tag --replace`` writes
    over metadata that may be broken)."""

    backend = "onnxruntime"
    memory_format = "contiguous"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None,
                 override: MetadataOverride | None = None, metadata_optional: bool = False,
                 read_metadata: bool = True) -> None:
        self.path, self.threads, self.device = Path(path), threads, device
        check_regular_file(self.path, max_bytes=MAX_MODEL_BYTES, what="model file")  # quantize and build come here
        self.stream = None
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise InputError(f"{self.path}: --device {device}: torch sees no CUDA GPU (c2fbench feeds ONNX "
                                 "Runtime's CUDA provider through torch's CUDA buffers and streams)")
            self.stream = torch.cuda.Stream(device=f"cuda:{_cuda_index(device)}")
        self.session = _ort_session(self.path, device=device, threads=threads,
                                    stream=None if self.stream is None else self.stream.cuda_stream)
        node = check_input(self.session.get_inputs(), path=self.path)
        self.input_name, self.input_shape = node.name, list(node.shape)
        dims = self.input_shape[2:]
        self.static_hw = tuple(dims) if all(isinstance(d, int) for d in dims) else None
        meta = self._metadata(override, metadata_optional) if read_metadata else {"classes": None,
                                                                                  "normalization": None}
        self.classes, self.normalization = meta["classes"], meta["normalization"]
        self.source = {"model": str(self.path.resolve()), "sha256": file_sha256(self.path)}
        if self.classes is None:
            out = pick_node(self.session.get_outputs(), OUTPUT, path=self.path, what="output")
        else:
            out = check_output(self.session.get_outputs(), len(self.classes), path=self.path)
        self.output_name, self.output_shape = out.name, list(out.shape or [])
        self.precision = onnx_precision(self.path)

    def _metadata(self, override: MetadataOverride | None, optional: bool) -> dict:
        """Classes and normalisation from the file, the override, or (``optional``) neither."""
        props = self.session.get_modelmeta().custom_metadata_map
        own = read_onnx_metadata(self.path, props) if "c2fbench.classes" in props or "c2fbench.normalization" in props \
            else None
        if override is not None:
            out = pick_node(self.session.get_outputs(), OUTPUT, path=self.path, what="output")
            shape = list(out.shape or [])
            channels = shape[1] if len(shape) == 4 and isinstance(shape[1], int) else None
            return override.apply(own, path=self.path, channels=channels)
        if own is None and optional:
            return {"classes": None, "normalization": None}
        if own is None:
            raise InputError(f"{self.path}: ONNX file has no c2fbench metadata (class names and normalisation); "
                             f"{FLAGS_HINT}")
        return own

    @property
    def versions(self) -> dict:
        import onnxruntime

        return {"onnxruntime": onnxruntime.__version__, "providers": self.session.get_providers()}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self.static_hw is not None and tuple(batch.shape[2:]) != self.static_hw:
            h, w = self.static_hw
            raise InputError(f"{self.path}: static input {h}x{w} (HxW) but got {batch.shape[2]}x{batch.shape[3]}; "
                             "export with --dynamic to run whole images of any size")
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        logits = self.session.run([self.output_name], feed)[0]
        if self.classes is not None:
            check_channels(list(logits.shape), len(self.classes), path=self.path, name=self.output_name, ran=True)
        return logits

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        if self.normalization is None:
            raise InputError(f"{self.path}: loaded for latency only (no c2fbench metadata); {FLAGS_HINT}")
        return self.infer(normalise(rgb, self.normalization).unsqueeze(0).numpy())[0]

    def prepare(self, batch: np.ndarray, *, cuda_graph: bool = False) -> Steps:
        """On the CPU, ``run`` on ``batch``: the profiler times it from the host. On CUDA,
        the steps TensorRT's runtime gives (:meth:`_prepare_cuda`)."""
        if cuda_graph:
            raise InputError(f"{self.path}: --cuda-graph is for torch and TensorRT; ONNX Runtime runs without "
                             "(profile it in a separate call)")
        logits = self.infer(batch)  # shape check once, outside the timed loop
        if self.stream is not None:
            return self._prepare_cuda(batch, logits)
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return Steps(compute=lambda: self.session.run([self.output_name], feed))

    def _prepare_cuda(self, batch: np.ndarray, logits: np.ndarray) -> Steps:
        """I/O binding to torch CUDA buffers (``run_with_iobinding``: no output allocation
        and no pageable copy in ``compute``), with H2D and D2H as pinned copies on the
        session's stream, as TensorRT's runtime does: the profiler's CUDA events then split
        each run into copies and GPU compute. ``compute`` returns when ORT has synchronised
        its stream (ORT's default), so its host time is not an enqueue time."""
        import torch

        index = _cuda_index(self.device)
        host_in = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
        host_out = torch.from_numpy(np.ascontiguousarray(logits)).pin_memory()
        with torch.cuda.device(index), torch.cuda.stream(self.stream):
            x = host_in.to(f"cuda:{index}", non_blocking=True)
            out = torch.empty_like(host_out, device=f"cuda:{index}")
        self.stream.synchronize()
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cuda", index, np.float32, tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", index, logits.dtype, tuple(out.shape), out.data_ptr())

        def compute() -> None:
            self.session.run_with_iobinding(binding)

        def h2d() -> None:
            with torch.cuda.device(index), torch.cuda.stream(self.stream):
                x.copy_(host_in, non_blocking=True)

        def d2h() -> None:
            with torch.cuda.device(index), torch.cuda.stream(self.stream):
                host_out.copy_(out, non_blocking=True)
        return Steps(compute=compute, h2d=h2d, d2h=d2h, stream=self.stream, keep=(x, out, host_in, host_out, binding))


def _cuda_index(device: str) -> int:
    """``cuda:N`` -> N; ``cuda`` -> 0, the provider's default device."""
    return int(device.split(":")[1]) if ":" in device else 0


def _ort_session(path: Path, *, device: str, threads: int | None, stream: int | None = None):
    """An InferenceSession with all graph optimisations; InputError if the file is unusable.
    On CUDA, ``stream`` (a ``cudaStream_t`` as an int) becomes the provider's compute stream."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if not device.startswith("cuda"):
        # no spinning after a run: an idle worker thread would take a core from the next
        # backend's run when deploy profile interleaves them (benchmarks/int8_cpu.py does the same)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(f"{path}: --device {device} needs ONNX Runtime's CUDA execution provider; "
                             "pip install onnxruntime-gpu")
        index = _cuda_index(device)
        # use_tf32 0: the CUDA provider rounds FP32 convolutions to TF32 by default (Ampere on),
        # which an FP32 model's parity with the CPU must not inherit
        cuda: dict = {"device_id": index, "use_tf32": 0}
        if stream is not None:  # ORT's documented way to share a stream with torch (setting it sets has_user_...)
            cuda["user_compute_stream"] = str(stream)
        providers = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:  # InvalidProtobuf, InvalidGraph, NoSuchFile, ...: all mean a bad file
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: ONNX Runtime cannot load it ({first})") from None
    if device.startswith("cuda") and session.get_providers()[0] != "CUDAExecutionProvider":
        # the provider is listed but its libraries (CUDA, cuDNN) did not load: ORT falls back to
        # the CPU with a warning only, and the run would be timed or scored as if on the GPU
        raise InputError(f"{path}: --device {device}: ONNX Runtime's CUDA provider did not start (running on "
                         f"{', '.join(session.get_providers())}); check the CUDA and cuDNN libraries onnxruntime-gpu needs")
    return session
