"""The named benchmarks: which images, which ground truth, which classes, which metric.

``voc-val`` and ``voc-train`` read a VOC 2012 folder (the official ``val`` and ``train``
segmentation splits); ``mit-subset`` reads Object Discovery's 100-image folders, which the
paper's Table IV reports, and ``mit-full`` the full folders; ``coco-val`` reads COCO 2014 val
label maps written by ``c2fbench data coco-labels`` (81 classes). The synthetic benchmark is
written in these same formats, so it is scored by the same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One scored image. ``id`` is also its prediction file's path without ``.png``."""

    id: str
    image: Path
    label: Path
    group: int = 0  # the class index of a foreground benchmark (Airplane=0, Car=1, Horse=2)


@dataclass(frozen=True)
class Benchmark:
    name: str
    kind: str  # "semantic" (confusion matrix, mIoU) or "foreground" (J and P)
    classes: tuple[str, ...]
    root: Path
    samples: tuple[Sample, ...]
    skipped: tuple[str, ...] = ()  # images that cannot be scored (no ground truth), reported


def _voc(split: str):
    def load(data_root: str | os.PathLike) -> Benchmark:
        from c2fbench.data import voc

        root = voc.find_voc_root(data_root)
        ids = voc.read_split(root, split)
        samples = tuple(Sample(i, voc.image_path(root, i), voc.label_path(root, i)) for i in ids)
        return Benchmark(f"voc-{split}", "semantic", voc.VOC_CLASSES, root, samples)

    return load


def _mit(suffix: str, name: str):
    def load(data_root: str | os.PathLike) -> Benchmark:
        from c2fbench.data import mit

        data = mit.find_mit_root(data_root)
        samples, skipped = [], []
        for group, cls in enumerate(mit.MIT_CLASSES):
            folder = cls + suffix
            scored, missing = mit.list_folder(data, folder)
            samples += [Sample(f"{folder}/{s}", data / folder / f"{s}.jpg",
                               data / folder / "GroundTruth" / f"{s}.png", group) for s in scored]
            skipped += [f"{folder}/{s}" for s in missing]
        return Benchmark(name, "foreground", mit.MIT_CLASSES, data, tuple(samples), tuple(skipped))

    return load


def _coco_val(data_root: str | os.PathLike) -> Benchmark:
    from c2fbench.data import coco

    images, labels, ids = coco.find_coco_val(data_root)
    samples = tuple(Sample(i, images / f"{i}.jpg", labels / f"{i}.png") for i in ids)
    return Benchmark("coco-val", "semantic", coco.COCO_CLASSES, labels.parents[1], samples)


BENCHMARKS = {
    "voc-val": _voc("val"),
    "voc-train": _voc("train"),
    "coco-val": _coco_val,
    "mit-subset": _mit("100", "mit-subset"),
    "mit-full": _mit("", "mit-full"),
}


def load_benchmark(name: str, data_root: str | os.PathLike) -> Benchmark:
    """Resolve a named benchmark against the user's data folder."""
    return BENCHMARKS[name](data_root)
