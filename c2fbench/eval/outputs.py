"""``eval``'s outputs kept apart from its inputs: ``--out`` and ``--show-dir`` are each
replaced as a whole, so neither may be, lie inside or hold anything eval reads: the
predictions, the model and its weights (checked before anything is read), and the dataset
the benchmark resolved under ``--data-root``, its split file and every folder of images and
ground truth, which links may put elsewhere (checked once the benchmark is found, before
scoring starts). ``--data-root`` may be a folder above the dataset (``~/data`` holding
VOCdevkit): an output beside the dataset there is no input and is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path

from c2fbench.files import check_output_apart


def given_inputs(*, predictions: Path | None, model: Path | None, weights: Path | None = None) -> dict:
    """The input files and folders named on the command line (``torchvision:NAME`` is no file)."""
    model_file = None if model is None or str(model).startswith("torchvision:") else model
    return {"--predictions": predictions, "--model": model_file, "--weights": weights}


def benchmark_inputs(bench) -> dict[str, Path]:
    """The dataset folder, its split file (VOC) and every folder of images and ground truth
    of ``bench`` (a :class:`~c2fbench.eval.benchmarks.Benchmark`)."""
    found: dict[str, Path] = {"the dataset of --data-root": bench.root}
    if bench.name.startswith("voc-"):
        split = bench.name.removeprefix("voc-")
        found["the split file"] = bench.root / "ImageSets" / "Segmentation" / f"{split}.txt"
    folders = dict.fromkeys(p.parent for s in bench.samples for p in (s.image, s.label) if p is not None)
    found.update((f"the benchmark's folder {folder.name}", folder) for folder in folders)
    return found


def check_eval_outputs(out: Path | None, show_dir: Path | None, inputs: dict) -> None:
    """Refuse an ``--out`` or ``--show-dir`` that is, lies inside or holds one of ``inputs``
    (:func:`c2fbench.files.check_output_apart`), or that are one another's (each is
    replaced whole)."""
    for path, option in ((out, "--out"), (show_dir, "--show-dir")):
        if path is not None:
            check_output_apart(path, inputs, option=option)
    if out is not None and show_dir is not None:
        from c2fbench.errors import InputError

        a, b = Path(os.path.realpath(show_dir)), Path(os.path.realpath(out))
        if a == b or a in b.parents or b in a.parents:
            raise InputError(f"--show-dir {show_dir}: --show-dir and --out {out} must be separate folders (each is "
                             f"replaced whole)")
