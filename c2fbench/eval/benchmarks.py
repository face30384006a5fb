"""The named benchmarks: which images, which ground truth, which classes, which metric.

``voc-val`` and ``voc-train`` read a VOC 2012 folder (the official ``val`` and ``train``
segmentation splits, 1,449 and 1,464 images, labels in ``SegmentationClass/``);
``voc-train-aug`` reads ``train_aug.txt`` with ``SegmentationClassAug/``, the 10,582-image
training set of weakly supervised work (:mod:`c2fbench.data.voc`); ``mit-subset`` reads
Object Discovery's 100-image folders, which the paper's Table IV reports, and ``mit-full``
the full folders; ``coco-val`` reads COCO 2014 val
label maps written by ``c2fbench data coco-labels`` (81 classes). The synthetic benchmark is
written in these same formats, so it is scored by the same code.

Every VOC and COCO benchmark also takes ``split``, any list of ids (:mod:`c2fbench.data.ids`)
that replaces its own: the benchmark then scores those images, with its labels, and each
id's label must exist (checked up front, the first missing id named).
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
    split_file: Path | None = None  # the id list read (VOC's split file, or --split), an input to keep apart
    custom_split: bool = False  # the ids came from --split, not the benchmark's own list


def _voc(split: str, labels: str = "SegmentationClass", name: str | None = None):
    def load(data_root: str | os.PathLike, split_file: Path | None = None) -> Benchmark:
        from c2fbench.data import voc
        from c2fbench.data.ids import check_files_exist, read_id_list
        from c2fbench.errors import InputError

        root = voc.find_voc_root(data_root)
        listed = Path(split_file) if split_file is not None else voc.split_path(root, split)
        if split_file is None and not os.path.lexists(listed):
            raise InputError(f"{listed}: split file not found ({name or f'voc-{split}'} reads the ids of "
                             f"{listed.name} there; give a list kept elsewhere with --split FILE)")
        ids = read_id_list(listed, what="split file")
        check_files_exist(ids, lambda i: voc.label_path(root, i, labels), listed_in=listed,
                          what=f"label in {labels}/")
        samples = tuple(Sample(i, voc.image_path(root, i), voc.label_path(root, i, labels)) for i in ids)
        return Benchmark(name or f"voc-{split}", "semantic", voc.VOC_CLASSES, root, samples,
                         split_file=listed, custom_split=split_file is not None)

    return load


def _mit(suffix: str, name: str):
    def load(data_root: str | os.PathLike, split_file: Path | None = None) -> Benchmark:
        from c2fbench.data import mit

        if split_file is not None:
            from c2fbench.errors import InputError

            raise InputError(f"--split {split_file}: {name} scores Object Discovery's folders whole; --split "
                             f"applies to the VOC and COCO benchmarks")
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


def _coco_val(data_root: str | os.PathLike, split_file: Path | None = None) -> Benchmark:
    from c2fbench.data import coco

    images, labels, ids = coco.find_coco_val(data_root)
    if split_file is not None:
        from c2fbench.data.ids import check_files_exist, read_id_list

        ids = read_id_list(split_file, what="split file")
        check_files_exist(ids, lambda i: labels / f"{i}.png", listed_in=split_file, what=f"label in {labels}")
    samples = tuple(Sample(i, images / f"{i}.jpg", labels / f"{i}.png") for i in ids)
    return Benchmark("coco-val", "semantic", coco.COCO_CLASSES, labels.parents[1], samples,
                     split_file=None if split_file is None else Path(split_file), custom_split=split_file is not None)


BENCHMARKS = {
    "voc-val": _voc("val"),
    "voc-train": _voc("train"),
    "voc-train-aug": _voc("train_aug", "SegmentationClassAug", "voc-train-aug"),
    "coco-val": _coco_val,
    "mit-subset": _mit("100", "mit-subset"),
    "mit-full": _mit("", "mit-full"),
}


def load_benchmark(name: str, data_root: str | os.PathLike, *, split: str | os.PathLike | None = None) -> Benchmark:
    """Resolve a named benchmark against the user's data folder; ``split``: a file of ids
    that replaces the benchmark's own list (VOC and COCO)."""
    return BENCHMARKS[name](data_root, None if split is None else Path(split))
