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

from c2fbench.data.files import MAX_MODEL_BYTES, check_regular_file
from c2fbench.console import plural
from c2fbench.errors import InputError
from c2fbench.inference import Runtime, Steps, file_sha256, load_torch_runtime, normalise
from deploy.export import INPUT, OUTPUT


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
    from deploy.tensorrt_build import TensorRTRuntime

    return TensorRTRuntime(path, device=device)


class OnnxRuntime:
    """An exported ONNX file run by ONNX Runtime: CPU execution provider, or CUDA with
    ``device="cuda"`` (needs onnxruntime-gpu). ``threads`` sets intra-op threads (None:
    ORT's default, one per physical core)."""

    backend = "onnxruntime"
    memory_format = "contiguous"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None) -> None:
        from deploy.export import read_onnx_metadata

        self.path, self.threads, self.device = Path(path), threads, device
        check_regular_file(self.path, max_bytes=MAX_MODEL_BYTES, what="model file")  # quantize and build come here
        self.session = _ort_session(self.path, device=device, threads=threads)
        meta = read_onnx_metadata(self.path, self.session.get_modelmeta().custom_metadata_map)
        self.classes, self.normalization = meta["classes"], meta["normalization"]
        self.source = {"model": str(self.path.resolve()), "sha256": file_sha256(self.path)}
        inputs = self.session.get_inputs()
        if len(inputs) > 1:
            names = ", ".join(repr(i.name) for i in inputs)
            raise InputError(f"{self.path}: the graph has {len(inputs)} inputs ({names}); c2fbench feeds one, "
                             f"the normalised image {INPUT!r}")
        node = pick_node(inputs, INPUT, path=self.path, what="input")
        self.input_name, self.input_shape = node.name, list(node.shape)
        if len(self.input_shape) != 4 or (isinstance(self.input_shape[1], int) and self.input_shape[1] != 3):
            raise InputError(f"{self.path}: input {node.name!r} has shape {self.input_shape}; expected "
                             "(batch, 3, height, width) images")
        dims = self.input_shape[2:]
        self.static_hw = tuple(dims) if all(isinstance(d, int) for d in dims) else None
        out = pick_node(self.session.get_outputs(), OUTPUT, path=self.path, what="output")
        self.output_name, self.output_shape = out.name, list(out.shape or [])
        check_channels(self.output_shape, len(self.classes), path=self.path, name=out.name)
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


def pick_node(nodes: list, name: str, *, path: Path, what: str):
    """The graph input or output called ``name`` (what ``deploy export`` writes), or the only
    one; InputError naming the candidates when there are several and none is ``name``
    (taking the first would score whatever tensor happens to come first)."""
    def name_of(node) -> str:
        return node if isinstance(node, str) else node.name  # TensorRT lists names, ORT node args

    if not nodes:
        raise InputError(f"{path}: the graph has no {what}")
    named = [n for n in nodes if name_of(n) == name]
    if named:
        return named[0]
    if len(nodes) == 1:
        return nodes[0]
    names = ", ".join(repr(name_of(n)) for n in nodes)
    raise InputError(f"{path}: {len(nodes)} graph {what}s ({names}) and none named {name!r}; "
                     f"c2fbench reads the {what} {name!r} (re-export with `c2fbench deploy export`)")


def check_channels(shape: list, num_classes: int, *, path: Path, name: str, ran: bool = False) -> None:
    """InputError unless output ``shape`` is (B, C, H, W) with C = ``num_classes`` (the
    metadata's class count); symbolic dimensions pass until a run gives them a size."""
    source = "gives" if ran else "declares"
    if shape and len(shape) != 4:
        raise InputError(f"{path}: output {name!r} {source} shape {list(shape)}; expected (batch, "
                         f"{num_classes}, height, width), one channel per class of its metadata")
    if len(shape) == 4 and isinstance(shape[1], int) and shape[1] != num_classes:
        raise InputError(f"{path}: output {name!r} {source} {shape[1]} channels but its metadata names "
                         f"{plural(num_classes, 'class')}; the file does not describe its own graph")


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
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:  # InvalidProtobuf, InvalidGraph, NoSuchFile, ...: all mean a bad file
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: ONNX Runtime cannot load it ({first})") from None


def onnx_precision(path: Path) -> str:
    """"int8" for a graph with QuantizeLinear / QLinear nodes, "fp16" for one with float16
    weights, else "fp32" (read with the weights, not from file names)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in proto.graph.node}
    if "QuantizeLinear" in ops or any(op.startswith("QLinear") for op in ops):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer):
        return "fp16"
    return "fp32"
