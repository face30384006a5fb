"""Inference: a model as a runtime (RGB image in, logits out), and the :class:`Runtime`
protocol every deployed form follows. The checks of a model's class names and
normalisation are :mod:`c2fbench.models.metadata`'s.

Prediction from a runtime (test-time augmentation, dense CRF, label maps, ``c2fbench
predict``) is in :mod:`c2fbench.predict`; the prediction source that lets ``c2fbench eval
--model`` score a model with the evaluator of prediction folders is
:class:`c2fbench.eval.sources.ModelPredictions`.

Inference runs on the whole image at its original resolution (DeepLab is fully
convolutional and upsamples its logits to the input size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from c2fbench.errors import InputError
from c2fbench.files import file_sha256


def normalise(rgb: np.ndarray, normalization: dict):
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor, normalised with mean and std."""
    import torch

    x = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(normalization["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class Steps:
    """One inference split the way trtexec times it: copy in, compute, copy out.

    On the CPU only ``compute`` is set: it runs synchronously on an input already where the
    backend reads it. On CUDA (``stream`` set) the three steps are enqueued on ``stream`` and
    return without waiting: ``h2d`` copies the pinned host input to the device, ``compute``
    launches the network (a CUDA graph replay when ``cuda_graph``), ``d2h`` copies the output
    to pinned host memory. The profiler records CUDA events between them and synchronises
    after the last. ``keep`` holds the buffers the steps use by address.
    """

    compute: Callable[[], Any]
    h2d: Callable[[], Any] | None = None
    d2h: Callable[[], Any] | None = None
    stream: Any = None
    cuda_graph: bool = False
    keep: tuple = ()


@runtime_checkable
class Runtime(Protocol):
    """A model ready to run, whatever its form: :class:`ModuleRuntime` (a checkpoint on
    PyTorch), ``deploy.runtimes.OnnxRuntime``, ``deploy.tensorrt.TensorRTRuntime``.

    ``logits``, ``classes``, ``normalization`` and ``source`` are what prediction and eval
    read; ``infer`` and ``prepare`` what the deploy tools run; the rest is what a latency row
    records (``deploy.profile``).
    """

    backend: str  # "torch", "onnxruntime" or "tensorrt"
    classes: list[str]
    normalization: dict  # {"mean": [r, g, b], "std": [r, g, b]}
    source: dict  # {"model": path or "in memory", "sha256": ...}
    device: Any  # "cpu", "cuda:N" (a torch.device for ModuleRuntime)
    threads: int | None  # CPU threads the runtime was given; None: the library's default

    @property
    def precision(self) -> str:
        """"fp32", "fp16", "int8", "amp-fp16", "amp-bf16"."""

    @property
    def memory_format(self) -> str:
        """"contiguous", or "channels_last" (NHWC)."""

    @property
    def versions(self) -> dict:
        """Library name -> version of what runs the model."""

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (C, H, W) float32 logits at the image's size."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) normalised float32 -> (B, C, H, W) float32, host arrays."""

    def prepare(self, batch: np.ndarray, *, cuda_graph: bool = False) -> Steps:
        """The :class:`Steps` of one inference on ``batch`` (what the profiler times)."""


class ModuleRuntime:
    """A torch model run by PyTorch eager: a checkpoint (:func:`load_torch_runtime`) or a
    model in memory (training's validation), as a :class:`Runtime`.

    FP32, or with ``amp`` under autocast in ``infer`` and ``prepare`` (FP16 on CUDA, BF16 on
    the CPU); ``channels_last`` runs it in NHWC memory format; ``threads`` sets torch's
    intra-op threads around each call (None: unchanged).
    """

    backend = "torch"

    def __init__(self, model, *, classes, normalization: dict, device: str = "cpu", source: dict | None = None,
                 threads: int | None = None, amp: bool = False, channels_last: bool = False):
        import torch

        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.classes, self.normalization = list(classes), normalization
        self.source = source or {"model": "in memory"}
        self.threads, self.amp, self.channels_last = threads, amp, channels_last

    @property
    def precision(self) -> str:
        if not self.amp:
            return "fp32"
        return "amp-fp16" if self.device.type == "cuda" else "amp-bf16"

    @property
    def memory_format(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def versions(self) -> dict:
        import torch

        return {"torch": torch.__version__}

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode(), _torch_threads(self.threads):
            x = normalise(rgb, self.normalization).unsqueeze(0).to(self.device)
            return self.forward(x)[0].float().cpu().numpy()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode(), _torch_threads(self.threads):
            return self.forward(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def forward(self, x):
        """The network on a device tensor, in this runtime's memory format and precision."""
        import torch

        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        # cache_enabled=False: autocast's weight-cast cache cannot live across a CUDA graph capture
        with torch.autocast(self.device.type, dtype=dtype, enabled=self.amp, cache_enabled=False):
            return self.model(x)

    def prepare(self, batch: np.ndarray, *, cuda_graph: bool = False) -> Steps:
        import torch

        if self.device.type == "cuda":
            return self._cuda_steps(batch, cuda_graph)
        if cuda_graph:
            raise InputError(f"--cuda-graph needs a CUDA device (this run is on {self.device})")
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))

        def compute() -> None:
            with torch.inference_mode(), _torch_threads(self.threads):
                self.forward(x)
        return Steps(compute=compute)

    def _cuda_steps(self, batch: np.ndarray, cuda_graph: bool) -> Steps:
        import torch

        stream = torch.cuda.Stream(device=self.device)
        host_in = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).pin_memory()
        with torch.cuda.stream(stream), torch.inference_mode():
            x = host_in.to(self.device)
            for _ in range(3):  # warm-up on the side stream: cuDNN picks its kernels, and a
                out = self.forward(x)  # CUDA graph must not capture first-run allocations
            if cuda_graph:
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=stream):
                    out = self.forward(x)
        stream.synchronize()
        host_out = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
        latest = [out]

        def h2d() -> None:
            with torch.cuda.stream(stream):
                x.copy_(host_in, non_blocking=True)

        def compute() -> None:
            with torch.cuda.stream(stream), torch.inference_mode():
                if cuda_graph:
                    graph.replay()
                else:
                    latest[0] = self.forward(x)

        def d2h() -> None:
            with torch.cuda.stream(stream):
                host_out.copy_(latest[0], non_blocking=True)
        return Steps(compute=compute, h2d=h2d, d2h=d2h, stream=stream, cuda_graph=cuda_graph,
                     keep=(x, host_in, host_out, latest))


class _torch_threads:
    """Context manager: torch intra-op threads set to ``n`` (None: unchanged), then restored."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.before: int | None = None

    def __enter__(self):
        import torch

        if self.n is not None:
            self.before = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        if self.before is not None:
            torch.set_num_threads(self.before)


def load_torch_runtime(path: Path, *, device: str = "cpu", expect_classes=None, threads: int | None = None,
                       amp: bool = False, channels_last: bool = False) -> ModuleRuntime:
    """A c2fbench checkpoint (``.pt``) as a runtime (options: :class:`ModuleRuntime`);
    refused with InputError if unfit."""
    from c2fbench.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, expect_classes=expect_classes)
    return ModuleRuntime(model, classes=meta["classes"], normalization=meta["normalization"], device=device,
                         source={"model": str(Path(path).resolve()), "sha256": file_sha256(path)},
                         threads=threads, amp=amp, channels_last=channels_last)
