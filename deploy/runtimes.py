"""Runtimes by file type, each a :class:`c2fbench.inference.Runtime`, so that
``ModelPredictions``, ``predict_label``, parity and the profiler take any of them unchanged.

:func:`load_runtime` picks the implementation from the file's suffix: ``.pt`` PyTorch
(:class:`c2fbench.inference.ModuleRuntime`), ``.onnx`` ONNX Runtime (:class:`OnnxRuntime`,
here), ``.engine`` / ``.plan`` TensorRT (:class:`deploy.tensorrt.TensorRTRuntime`). Every
runtime normalises with :func:`c2fbench.inference.normalise`, so the numbers of ``c2fbench
eval --model`` depend on the model, not on the file type.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.files import MAX_MODEL_BYTES, check_regular_file
from c2fbench.errors import InputError
from c2fbench.inference import Runtime, Steps, file_sha256, load_torch_runtime, normalise
from deploy.foreign import FLAGS_HINT, MetadataOverride
from deploy.onnx_meta import (OUTPUT, check_channels, check_input, check_output, onnx_precision, pick_node,
                              read_onnx_metadata)


SUFFIXES = {".pt": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}
TORCHVISION_PREFIX = "torchvision:"  # --model torchvision:NAME --weights FILE


def load_runtime(path: Path, *, device: str = "cpu", threads: int | None = None,
                 override: MetadataOverride | None = None, weights: Path | None = None,
                 metadata_optional: bool = False) -> Runtime:
    """The runtime for ``path`` by its suffix (see :data:`SUFFIXES`), or for
    ``torchvision:NAME`` with ``weights`` (:mod:`deploy.torchvision_models`); InputError if
    unknown. ``override`` gives the classes and normalisation of a file without c2fbench
    metadata (:class:`deploy.foreign.MetadataOverride`); ``metadata_optional`` lets an ONNX
    file without either load for latency alone (no class names, no normalisation)."""
    if str(path).startswith(TORCHVISION_PREFIX):
        from deploy.torchvision_models import load_torchvision_runtime

        return load_torchvision_runtime(str(path)[len(TORCHVISION_PREFIX):], weights, device=device, threads=threads,
                                        override=override)
    path = Path(path)
    if weights is not None:
        raise InputError(f"--weights is for --model torchvision:NAME; {path} holds its own weights")
    backend = SUFFIXES.get(path.suffix.lower())
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
    if override is not None:  # flags given for a file that names its own: they must agree with it
        override.apply({"classes": runtime.classes, "normalization": runtime.normalization}, path=path,
                       channels=len(runtime.classes))
    return runtime


class OnnxRuntime:
    """An exported ONNX file run by ONNX Runtime: CPU execution provider, or CUDA with
    ``device="cuda"`` (needs onnxruntime-gpu). ``threads`` sets intra-op threads (None:
    ORT's default, one per physical core).

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
        self.session = _ort_session(self.path, device=device, threads=threads)
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
        """ONNX Runtime's ``run`` copies in, computes and copies out in one synchronous call,
        on the CPU and on its CUDA provider alike: the profiler times it from the host."""
        if cuda_graph:
            raise InputError(f"{self.path}: --cuda-graph is for torch and TensorRT; ONNX Runtime runs without "
                             "(profile it in a separate call)")
        self.infer(batch)  # shape check once, outside the timed loop
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return Steps(compute=lambda: self.session.run([self.output_name], feed))


def _ort_session(path: Path, *, device: str, threads: int | None):
    """An InferenceSession with all graph optimisations; InputError if the file is unusable."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError(f"{path}: --device {device} needs ONNX Runtime's CUDA execution provider; "
                             "pip install onnxruntime-gpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        # use_tf32 0: the CUDA provider rounds FP32 convolutions to TF32 by default (Ampere on),
        # which an FP32 model's parity with the CPU must not inherit
        providers = [("CUDAExecutionProvider", {"device_id": index, "use_tf32": 0}), "CPUExecutionProvider"]
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
