"""Inference: a model as a runtime (RGB image in, logits out), test-time augmentation,
dense CRF, and a prediction source so that ``c2fbench eval --model`` scores a model with
exactly the evaluator used for prediction folders.

Inference runs on the whole image at its original resolution (DeepLab is fully
convolutional and upsamples its logits to the input size).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

TTA_SCALES = (0.75, 1.0, 1.25)


def normalise(rgb: np.ndarray, normalization: dict):
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor, normalised with mean and std."""
    import torch

    x = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(normalization["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


class ModuleRuntime:
    """A torch model in memory; ``logits(rgb)`` -> (C, H, W) float32 numpy array."""

    def __init__(self, model, *, classes, normalization: dict, device: str = "cpu", source: dict | None = None):
        import torch

        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.classes, self.normalization = list(classes), normalization
        self.source = source or {"model": "in memory"}

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = normalise(rgb, self.normalization).unsqueeze(0).to(self.device)
            return self.model(x)[0].float().cpu().numpy()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torch_runtime(path: Path, *, device: str = "cpu", expect_classes=None) -> ModuleRuntime:
    """A c2fbench checkpoint (``.pt``) as a runtime; refused with InputError if unfit."""
    from c2fbench.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path, expect_classes=expect_classes)
    return ModuleRuntime(model, classes=meta["classes"], normalization=meta["normalization"], device=device,
                         source={"model": str(Path(path).resolve()), "sha256": file_sha256(path)})


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
        return _softmax(runtime.logits(rgb))
    h, w = rgb.shape[:2]
    total = None
    for scale in TTA_SCALES:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        scaled = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR) if scale != 1.0 else rgb
        for flip in (False, True):
            image = scaled[:, ::-1] if flip else scaled
            probs = _softmax(runtime.logits(np.ascontiguousarray(image)))
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


def _softmax(logits: np.ndarray) -> np.ndarray:
    if logits.shape[0] == 1:  # one foreground channel: (background, foreground) probabilities
        p = 1.0 / (1.0 + np.exp(-logits[0]))
        return np.stack([1.0 - p, p])
    z = np.exp(logits - logits.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


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
        if benchmark.kind == "semantic" and len(self.runtime.classes) != len(benchmark.classes):
            raise InputError(f"{self.runtime.source.get('model')}: model has {len(self.runtime.classes)} classes, "
                             f"{benchmark.name} needs {len(benchmark.classes)}")
        return []

    def load(self, sample, shape: tuple[int, int], kind: str) -> np.ndarray:
        from c2fbench.data.images import read_rgb

        rgb = read_rgb(sample.image)
        if rgb.shape[:2] != shape:
            raise InputError(f"{sample.image}: image is {rgb.shape[1]}x{rgb.shape[0]} but its ground truth is "
                             f"{shape[1]}x{shape[0]}")
        label = predict_label(self.runtime, rgb, tta=self.tta, crf=self.crf)
        return label if kind == "semantic" else label > 0
