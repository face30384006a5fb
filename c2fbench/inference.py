"""Inference: a model as a runtime (RGB image in, logits out), test-time augmentation,
dense CRF, and a prediction source so that ``c2fbench eval --model`` scores a model with
exactly the evaluator used for prediction folders.

Inference runs on the whole image at its original resolution (DeepLab is fully
convolutional and upsamples its logits to the input size).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from c2fbench.console import plural
from c2fbench.errors import InputError

TTA_SCALES = (0.75, 1.0, 1.25)
# The most classes a model may name. Segmentation label sets run to a few hundred (VOC 21,
# COCO-stuff 182, ADE20K 150); a checkpoint or ONNX file naming more is refused before a
# layer is built (a 50,000-class DeepLab head alone is 7 GB).
MAX_CLASSES = 1000


def normalise(rgb: np.ndarray, normalization: dict):
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor, normalised with mean and std."""
    import torch

    x = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(normalization["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


def check_class_names(classes, *, where: str) -> list[str]:
    """``classes`` as a list of 1 to :data:`MAX_CLASSES` distinct, non-empty strings;
    otherwise InputError starting with ``where`` (the file, and the field it came from)."""
    if not isinstance(classes, (list, tuple)) or not classes:
        raise InputError(f"{where}expected a non-empty list of class names, got {_short(classes)}")
    if len(classes) > MAX_CLASSES:
        raise InputError(f"{where}{len(classes)} class names, more than the {MAX_CLASSES} a segmentation "
                         "model is taken to have (a damaged or hand-made file?)")
    bad = next((i for i, c in enumerate(classes) if not isinstance(c, str) or not c.strip()), None)
    if bad is not None:
        raise InputError(f"{where}class {bad} is {_short(classes[bad])}; class names are non-empty strings")
    seen = set()
    for c in classes:
        if c in seen:
            raise InputError(f"{where}class name {c!r} appears twice; class names must be distinct")
        seen.add(c)
    return list(classes)


def check_expected_classes(classes: list[str], expected, *, where: str, what: str = "model",
                           by: str = "expected") -> None:
    """InputError unless ``classes`` are ``expected`` (same names, same order), naming the
    count or the first class that differs ("<what> class 2 is 'dog', <by> 'cow'")."""
    expected = list(expected)
    if len(classes) != len(expected):
        raise InputError(f"{where}{what} has {plural(len(classes), 'class')}, {by} {len(expected)} "
                         f"({', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''})")
    for i, (got, want) in enumerate(zip(classes, expected)):
        if got != want:
            raise InputError(f"{where}{what} class {i} is {got!r}, {by} {want!r} "
                             f"(both have {plural(len(expected), 'class')}, in a different order or naming)")


def check_normalization(norm, *, where: str, error: type[Exception] = InputError) -> dict:
    """``{"mean": [r, g, b], "std": [r, g, b]}`` as floats: three finite numbers each, std
    above zero (a zero std divides by zero in :func:`normalise`); otherwise ``error``."""
    expected = "{'mean': [r, g, b], 'std': [r, g, b]}"
    if not isinstance(norm, dict):
        raise error(f"{where}normalization must be {expected}, got {_short(norm)}")
    for key in ("mean", "std"):
        values = norm.get(key)
        if values is None:
            raise error(f"{where}normalization lacks {key!r} (expected {expected})")
        if (not isinstance(values, (list, tuple)) or len(values) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise error(f"{where}normalization {key} must be 3 numbers (r, g, b), got {_short(values)}")
        if not all(np.isfinite(v) for v in values):
            raise error(f"{where}normalization {key} must be finite, got {list(values)}")
    if not all(v > 0 for v in norm["std"]):
        raise error(f"{where}normalization std must be above 0 (it divides), got {list(norm['std'])}")
    return {"mean": [float(v) for v in norm["mean"]], "std": [float(v) for v in norm["std"]]}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
            return self.model(x)[0].float().cpu().numpy()

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torch_runtime(path: Path, *, device: str = "cpu", expect_classes=None, threads: int | None = None,
                       amp: bool = False, channels_last: bool = False) -> ModuleRuntime:
    """A c2fbench checkpoint (``.pt``) as a runtime (options: :class:`ModuleRuntime`);
    refused with InputError if unfit."""
    from c2fbench.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, expect_classes=expect_classes)
    return ModuleRuntime(model, classes=meta["classes"], normalization=meta["normalization"], device=device,
                         source={"model": str(Path(path).resolve()), "sha256": file_sha256(path)},
                         threads=threads, amp=amp, channels_last=channels_last)


def predict_probs(runtime, rgb: np.ndarray, *, tta: bool = False, size: tuple[int, int] | None = None) -> np.ndarray:
    """(C, H, W) class probabilities; with ``tta``, averaged over scales 0.75/1/1.25 and flips.

    ``size`` (width, height): run the model on the image resized to it (bilinear) and
    resize the probabilities back to the image's size.
    """
    import cv2

    if size is not None and tuple(size) != (rgb.shape[1], rgb.shape[0]):
        h, w = rgb.shape[:2]
        probs = predict_probs(runtime, cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_LINEAR), tta=tta)
        return np.stack([cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_LINEAR) for p in probs])
    if not tta:
        return _softmax(checked_logits(runtime, rgb))
    h, w = rgb.shape[:2]
    total = None
    for scale in TTA_SCALES:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        scaled = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR) if scale != 1.0 else rgb
        for flip in (False, True):
            image = scaled[:, ::-1] if flip else scaled
            probs = _softmax(checked_logits(runtime, np.ascontiguousarray(image)))
            probs = probs[:, :, ::-1] if flip else probs
            probs = np.stack([cv2.resize(np.ascontiguousarray(p), (w, h), interpolation=cv2.INTER_LINEAR)
                              for p in probs])
            total = probs if total is None else total + probs
    return total / (2 * len(TTA_SCALES))


def crf_refine(rgb: np.ndarray, probs: np.ndarray, *, iterations: int = 10) -> np.ndarray:
    """Dense CRF (Krähenbühl & Koltun) on class probabilities, with the parameters psa uses
    (Gaussian sxy 3, compat 3; bilateral sxy 80, srgb 13, compat 10). Needs the optional
    extra ``c2fbench[crf]`` (pydensecrf2)."""
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError:
        raise InputError("--crf needs the dense CRF extra: pip install 'c2fbench[crf]'") from None
    c, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.require(rgb, np.uint8, ["C", "W"]), compat=10)
    return np.asarray(crf.inference(iterations), dtype=np.float32).reshape(c, h, w)


def predict_label(runtime, rgb: np.ndarray, *, tta: bool = False, crf: bool = False) -> np.ndarray:
    """(H, W) uint8 class indices."""
    probs = predict_probs(runtime, rgb, tta=tta)
    if crf:
        probs = crf_refine(rgb, probs)
    return probs.argmax(axis=0).astype(np.uint8)


def checked_logits(runtime, rgb: np.ndarray) -> np.ndarray:
    """``runtime.logits(rgb)``, (C, H, W) with one channel per class the runtime names and
    the image's size; InputError naming the model otherwise (an ONNX file whose graph does
    not match its metadata would else be scored as if it did)."""
    logits = runtime.logits(rgb)
    expected = (len(runtime.classes), *rgb.shape[:2])
    if logits.shape != expected:
        raise InputError(f"{runtime.source.get('model')}: output of shape {tuple(logits.shape)} for a "
                         f"{rgb.shape[1]}x{rgb.shape[0]} image; expected {expected}, one channel per class "
                         f"of its metadata ({len(runtime.classes)})")
    return logits


def _softmax(logits: np.ndarray) -> np.ndarray:
    """(C, H, W) logits -> (C, H, W) probabilities; one channel gives (background, foreground)."""
    if logits.shape[0] == 1:
        return np.stack(_sigmoid_pair(logits[0]))
    z = np.exp(logits - logits.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


def _sigmoid_pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1 - sigmoid(x), sigmoid(x)) without overflow: exp only ever sees -|x|, and each side
    is computed directly rather than as 1 minus the other (which loses the small one)."""
    e = np.exp(-np.abs(x))  # in (0, 1]
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    positive = x >= 0
    return np.where(positive, small, big), np.where(positive, big, small)


def check_model_for(runtime, benchmark) -> None:
    """InputError naming the model unless it scores on ``benchmark``: a semantic benchmark
    needs its classes, by name and in order; a foreground one (mit-*) a foreground model:
    one output channel, the object (what ``train dfpn`` writes), or two, background and
    foreground. A semantic model's argmax would be scored as "not background", a different
    task."""
    where, classes = f"{runtime.source.get('model')}: ", list(runtime.classes)
    if benchmark.kind == "semantic":
        check_expected_classes(classes, benchmark.classes, where=where, by=f"{benchmark.name} expects")
    elif not (len(classes) == 1 or (len(classes) == 2 and classes[0] == "background")):
        raise InputError(f"{where}{benchmark.name} scores foreground models (one output channel, e.g. dfpn_*, "
                         f"or background and foreground), this model has {plural(len(classes), 'class')} "
                         f"({', '.join(classes[:3])}"
                         f"{', ...' if len(classes) > 3 else ''})")


class ModelPredictions:
    """A prediction source (see evaluator.py) that runs a model on each benchmark image.

    Semantic benchmarks take the argmax class; foreground benchmarks take "not background".
    """

    parallel_safe = False

    def __init__(self, runtime, *, tta: bool = False, crf: bool = False) -> None:
        self.runtime, self.tta, self.crf = runtime, tta, crf

    def describe(self) -> dict:
        return {**self.runtime.source, "tta": self.tta, "crf": self.crf}

    def check(self, benchmark) -> list[str]:
        check_model_for(self.runtime, benchmark)
        return []

    def load(self, sample, shape: tuple[int, int], kind: str) -> np.ndarray:
        from c2fbench.data.images import read_rgb

        rgb = read_rgb(sample.image)
        if rgb.shape[:2] != shape:
            raise InputError(f"{sample.image}: image is {rgb.shape[1]}x{rgb.shape[0]} but its ground truth is "
                             f"{shape[1]}x{shape[0]}")
        label = predict_label(self.runtime, rgb, tta=self.tta, crf=self.crf)
        return label if kind == "semantic" else label > 0


# Object Discovery keeps each folder's masks in GroundTruth/ beside its images: they are not
# inputs, and predicting them would also write label maps nobody asked for.
GROUND_TRUTH_FOLDERS = ("groundtruth",)


def prediction_inputs(images: Path, out: Path | None = None) -> tuple[list[str], list[Path], list[str]]:
    """``(ids, files, skipped)`` for ``c2fbench predict``: every image under ``images``
    (``<sub>/<stem>`` ids) but those in GroundTruth folders (``skipped``) and, when ``out``
    lies inside ``images``, those under ``out`` (earlier predictions), each file checked
    up front (a regular file of bounded size that decodes whole, see
    :func:`c2fbench.data.images.read_rgb`) so that a bad file, a truncated JPEG too, stops
    the run before any prediction is written. Decoding twice costs a few milliseconds an
    image, little next to the model."""
    from c2fbench.data.images import find_image, list_images, read_rgb

    ids = list_images(images)
    if out is not None and Path(images).resolve() in Path(out).resolve().parents:
        inside = Path(out).resolve().relative_to(Path(images).resolve()).as_posix() + "/"
        ids = [i for i in ids if not i.startswith(inside)]
    in_ground_truth = [any(part.lower() in GROUND_TRUTH_FOLDERS for part in i.split("/")[:-1]) for i in ids]
    skipped = [i for i, gt in zip(ids, in_ground_truth) if gt]
    ids = [i for i, gt in zip(ids, in_ground_truth) if not gt]
    if not ids:
        raise InputError(f"{images}: only ground-truth masks found (GroundTruth folders); "
                         "--images takes the folder of images")
    files = []
    for image_id in ids:
        path = find_image(Path(images), image_id)
        read_rgb(path)  # decoded and dropped: one image in memory at a time
        files.append(path)
    return ids, files, skipped


def predict_folder(runtime, ids: list[str], files: list[Path], out: Path, *, tta: bool = False,
                   crf: bool = False, advance=lambda n: None) -> int:
    """Write ``out/<id>.png`` (VOC palette, atomically) for each image; returns the count.

    :func:`prediction_inputs` decoded every image already; one that changed since (and no
    longer decodes), or a write the disk refuses, stops the run with an InputError saying how
    many label maps were written.
    """
    from c2fbench.data.images import read_rgb
    from c2fbench.data.labels import write_label_png

    for done, (image_id, path) in enumerate(zip(ids, files)):
        try:
            label = predict_label(runtime, read_rgb(path), tta=tta, crf=crf)
            write_label_png(Path(out) / f"{image_id}.png", label)  # a full disk: InputError
        except InputError as e:
            if not done:
                raise
            raise InputError(f"{e}; {done} of {len(ids)} label maps were written to {out} before it "
                             "(a rerun overwrites them)") from None
        advance(1)
    return len(ids)
