"""Prediction sources: where the evaluator gets each image's predicted label map.

A source is any object with ``describe``, ``check`` and ``load`` (:class:`PredictionSource`).
:class:`PngPredictions` reads a folder of PNGs (the layout in DESIGN.md);
:class:`ModelPredictions` runs a model on each image, through any runtime, once
:func:`check_model_for` has found it fit for the benchmark.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from c2fbench.console import plural
from c2fbench.data.png import read_label_png, read_mask_png
from c2fbench.errors import InputError
from c2fbench.eval.benchmarks import Benchmark, Sample


class PredictionSource(Protocol):
    """Where predictions come from. ``load`` returns (H, W) class indices (semantic) or a
    bool mask (foreground) for ``sample``, whose ground truth has shape ``shape``.
    ``parallel_safe``: whether worker processes may each load their own share (a folder of
    PNGs may; a model holds one runtime, and runs in the process that made it)."""

    parallel_safe: bool

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


def check_model_for(runtime, benchmark) -> None:
    """InputError naming the model unless it scores on ``benchmark``: a semantic benchmark
    needs its classes, by name and in order; a foreground one (mit-*) a foreground model:
    one output channel, the object (what ``train dfpn`` writes), or two, background and
    foreground. A semantic model's argmax would be scored as "not background", a different
    task."""
    from c2fbench.models.metadata import check_expected_classes  # models/ imports torch: only for a model

    where, classes = f"{runtime.source.get('model')}: ", list(runtime.classes)
    if benchmark.kind == "semantic":
        check_expected_classes(classes, benchmark.classes, where=where, by=f"{benchmark.name} expects")
    elif not (len(classes) == 1 or (len(classes) == 2 and classes[0] == "background")):
        raise InputError(f"{where}{benchmark.name} scores foreground models (one output channel, e.g. dfpn_*, "
                         f"or background and foreground), this model has {plural(len(classes), 'class')} "
                         f"({', '.join(classes[:3])}"
                         f"{', ...' if len(classes) > 3 else ''})")


class ModelPredictions:
    """A prediction source (:class:`PredictionSource`) that runs a model on each benchmark image.

    Semantic benchmarks take the argmax class; foreground benchmarks take "not background".
    """

    parallel_safe = False

    def __init__(self, runtime, *, tta: bool = False, crf: bool = False) -> None:
        self.runtime, self.tta, self.crf = runtime, tta, crf

    def describe(self) -> dict:
        return {**self.runtime.source, "tta": self.tta, "crf": self.crf}

    def check(self, benchmark) -> list[str]:
        """Refuse a model unfit for ``benchmark``, or a benchmark image that is missing (named)."""
        check_model_for(self.runtime, benchmark)
        missing = next((s for s in benchmark.samples if not os.path.lexists(s.image)), None)
        if missing is not None:
            raise InputError(f"{missing.image}: image of {missing.id} not found (a model is scored on the "
                             f"benchmark's images)")
        return []

    def load(self, sample, shape: tuple[int, int], kind: str) -> np.ndarray:
        from c2fbench.data.images import read_rgb
        from c2fbench.predict import predict_label

        rgb = read_rgb(sample.image)
        if rgb.shape[:2] != shape:
            raise InputError(f"{sample.image}: image is {rgb.shape[1]}x{rgb.shape[0]} but its ground truth is "
                             f"{shape[1]}x{shape[0]}")
        label = predict_label(self.runtime, rgb, tta=self.tta, crf=self.crf)
        return label if kind == "semantic" else label > 0
