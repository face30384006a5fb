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
from deploy.onnx_meta import check_channels, check_input, check_output, onnx_precision, read_onnx_metadata


SUFFIXES = {".pt": "torch", ".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt"}


def load_runtime(path: Path, *, device: str = "cpu", threads: int | None = None) -> Runtime:
    """The runtime for ``path`` by its suffix (see :data:`SUFFIXES`); InputError if unknown."""
    path = Path(path)
    backend = SUFFIXES.get(path.suffix.lower())
    if backend is None:
        raise InputError(f"{path}: unknown model file type {path.suffix!r}; expected a checkpoint (.pt), "
                         "an ONNX file (.onnx) or a TensorRT engine (.engine, .plan)")
    check_regular_file(path, max_bytes=MAX_MODEL_BYTES, what="model file")  # a FIFO would hang the loader
    if backend == "torch":
        return load_torch_runtime(path, device=device, threads=threads)
    if backend == "onnxruntime":
        return OnnxRuntime(path, device=device, threads=threads)
    from deploy.tensorrt import TensorRTRuntime

    return TensorRTRuntime(path, device=device)


class OnnxRuntime:
    """An exported ONNX file run by ONNX Runtime: CPU execution provider, or CUDA with
    ``device="cuda"`` (needs onnxruntime-gpu). ``threads`` sets intra-op threads (None:
    ORT's default, one per physical core)."""

    backend = "onnxruntime"
    memory_format = "contiguous"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None) -> None:
        self.path, self.threads, self.device = Path(path), threads, device
        check_regular_file(self.path, max_bytes=MAX_MODEL_BYTES, what="model file")  # quantize and build come here
        self.session = _ort_session(self.path, device=device, threads=threads)
        meta = read_onnx_metadata(self.path, self.session.get_modelmeta().custom_metadata_map)
        self.classes, self.normalization = meta["classes"], meta["normalization"]
        self.source = {"model": str(self.path.resolve()), "sha256": file_sha256(self.path)}
        node = check_input(self.session.get_inputs(), path=self.path)
        self.input_name, self.input_shape = node.name, list(node.shape)
        dims = self.input_shape[2:]
        self.static_hw = tuple(dims) if all(isinstance(d, int) for d in dims) else None
        out = check_output(self.session.get_outputs(), len(self.classes), path=self.path)
        self.output_name, self.output_shape = out.name, list(out.shape or [])
        self.precision = onnx_precision(self.path)

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
        check_channels(list(logits.shape), len(self.classes), path=self.path, name=self.output_name, ran=True)
        return logits

    def logits(self, rgb: np.ndarray) -> np.ndarray:
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
