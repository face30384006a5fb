"""A training run in progress: its configuration, its run directory and where each file of
it lies (DESIGN.md, "Training run directory"), its training images, ranks and device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from c2fbench.data.imagenet import wnid_to_voc_label
from c2fbench.data.voc import VOC_CLASSES
from c2fbench.inference import ModuleRuntime
from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD
from trainers.config import TrainConfig
from trainers.distributed import Dist, barrier
from trainers.rundir import append_log

# The input normalisation of every model trained here, stored in its checkpoints.
NORMALIZATION = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


@dataclass
class Run:
    cfg: TrainConfig
    out: Path
    images: Path  # the training image folder (for DeepLab, ImageNet's train/)
    samples: list  # trainers.preflight.TrainImage: .rel (the id) and .path
    dist: Dist
    device: torch.device
    workers: int  # processes for the masks jobs
    numerics: dict | None = None  # what decides the floats (c2fbench.numerics), logged with every round

    @property
    def classes(self) -> list[str]:
        return list(VOC_CLASSES) if self.cfg.task == "semantic" else ["foreground"]

    @property
    def wnid_labels(self) -> dict | None:
        """ImageNet folder -> VOC class for DeepLab; None (category 1) for the foreground task."""
        return wnid_to_voc_label() if self.cfg.task == "semantic" else None

    def runtime(self, model) -> ModuleRuntime:
        return ModuleRuntime(model, classes=self.classes, device=str(self.device), normalization=NORMALIZATION,
                             channels_last=self.cfg.optim.nhwc(self.device))

    def masks(self, r: int) -> Path:
        """The label maps round ``r + 1`` trains on."""
        return self.out / "masks" / f"round-{r:02d}"

    def predictions(self, r: int) -> Path:
        return self.out / "predictions" / f"round-{r:02d}"

    def model_path(self, r: int) -> Path:
        return self.out / f"round-{r:02d}" / "model.pt"

    def eval_path(self, r: int) -> Path:
        """Round ``r``'s validation, as ``c2fbench eval --out`` writes it (one process only)."""
        return self.out / f"round-{r:02d}" / "eval"

    def epoch_path(self, r: int) -> Path:
        """The checkpoint of round ``r``'s last finished epoch, while the round is unfinished."""
        return self.out / f"round-{r:02d}" / "last.pt"

    def log(self, line: dict) -> dict:
        """Write round ``line["round"]``'s line of ``metrics.jsonl`` (the main rank) and return it."""
        if self.numerics is not None:  # a line logged before (a resume) keeps the record it was trained with
            line = {"numerics": self.numerics, **line}
        if self.dist.is_main:
            append_log(self.out, line)
        barrier(self.dist)
        return line
