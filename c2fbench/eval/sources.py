"""Prediction sources: where the evaluator gets each image's predicted label map.

A source is any object with ``describe``, ``check`` and ``load`` (:class:`PredictionSource`).
:class:`PngPredictions` reads a folder of PNGs (the layout in DESIGN.md);
:class:`c2fbench.inference.ModelPredictions` runs a model on each image, through any runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from c2fbench.data.labels import read_label_png
from c2fbench.data.mit import read_mask_png
from c2fbench.errors import InputError
from c2fbench.eval.benchmarks import Benchmark, Sample


class PredictionSource(Protocol):
    """Where predictions come from. ``load`` returns (H, W) class indices (semantic) or a
    bool mask (foreground) for ``sample``, whose ground truth has shape ``shape``."""

    def describe(self) -> dict: ...
    def check(self, benchmark: Benchmark) -> list[str]: ...
    def load(self, sample: Sample, shape: tuple[int, int], kind: str) -> np.ndarray: ...


@dataclass(frozen=True)
class PngPredictions:
    """A folder of ``<id>.png`` prediction files (the layout in DESIGN.md)."""

    root: Path
    resize_nearest: bool = False
    threshold: float | None = None  # foreground benchmarks: soft maps, foreground at >= threshold
    parallel_safe: bool = field(default=True, init=False)

    def describe(self) -> dict:
        described = {"predictions": str(self.root.resolve())}
        return described if self.threshold is None else {**described, "threshold": self.threshold}

    def path(self, sample: Sample) -> Path:
        return self.root / f"{sample.id}.png"

    def check(self, benchmark: Benchmark) -> list[str]:
        """Refuse a folder that lacks predictions; return warnings (extra files are ignored)."""
        if not self.root.is_dir():
            raise InputError(f"{self.root}: predictions folder not found")
        wanted = [s.id for s in benchmark.samples]
        present = set()
        for folder in {os.path.dirname(i) for i in wanted}:  # "" for VOC, "Airplane100" for MIT
            names = os.listdir(self.root / folder) if (self.root / folder).is_dir() else []
            present.update(os.path.join(folder, n[:-4]) for n in names if n.endswith(".png"))
        missing = [i for i in wanted if i not in present]
        if missing:
            first = ", ".join(missing[:3])
            raise InputError(f"{self.root}: {len(missing)} of {len(wanted)} predictions missing "
                             f"(first: {first}; expected <id>.png for every id of {benchmark.name})")
        extra = len(present) - len(wanted)
        return [f"{self.root}: ignored {extra} PNG files that are not in {benchmark.name}"] if extra else []

    def load(self, sample: Sample, shape: tuple[int, int], kind: str) -> np.ndarray:
        path = self.path(sample)
        pred = read_label_png(path) if kind == "semantic" else read_mask_png(path, threshold=self.threshold)
        if pred.shape != shape:
            if not self.resize_nearest:
                raise InputError(f"{path}: prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but the ground truth "
                                 f"of {sample.id} is {shape[1]}x{shape[0]} (pass --resize-nearest to resize it)")
            pred = _resize_nearest(pred, shape)
        return pred


def _resize_nearest(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a prediction to the ground truth's (H, W); labels are never resized."""
    import cv2

    resized = cv2.resize(pred.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return resized.astype(pred.dtype)
