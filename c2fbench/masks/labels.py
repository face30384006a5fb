"""Label assignment (the paper's Fig. 3): the image's category on the foreground,
background (0) elsewhere, written as a VOC palette PNG.

The category of ``<wnid>/<stem>`` is its ImageNet folder's VOC class
(``c2fbench/data/voc_synsets.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.runner import ItemResult


def assign_label(mask: np.ndarray, category: int) -> np.ndarray:
    """(H, W) uint8: ``category`` where ``mask`` is foreground, 0 elsewhere."""
    if not 1 <= category <= 255:
        raise ValueError(f"category must be a class index 1..255, got {category}")
    return np.where(mask, category, 0).astype(np.uint8)


def category_of(image_id: str, wnid_labels: dict[str, int] | None) -> int:
    """The VOC class of ``<wnid>/<stem>`` from its folder; InputError if unmapped.

    ``wnid_labels=None`` is the foreground task: every image's category is 1.
    """
    if wnid_labels is None:
        return 1
    wnid = image_id.split("/", 1)[0]
    if wnid not in wnid_labels:
        raise InputError(f"{image_id}: folder {wnid!r} is not an ImageNet synset mapped to a VOC class")
    return wnid_labels[wnid]


@dataclass(frozen=True)
class LabelJob:
    masks: Path
    out: Path
    wnid_labels: dict | None  # None: foreground task, category 1 everywhere
    drop_outside: bool = False  # between-round strategy (a), see trainers/refine.py
    min_foreground: float = 0.01
    max_foreground: float = 0.80
    name: str = "masks labels"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.labels import write_label_png
        from c2fbench.data.mit import read_mask_png

        try:
            category = category_of(image_id, self.wnid_labels)
            mask = read_mask_png(self.masks / f"{image_id}.png")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        fraction = float(mask.mean())
        if self.drop_outside and not self.min_foreground <= fraction <= self.max_foreground:
            event = "dropped_small" if fraction < self.min_foreground else "dropped_large"
            write_label_png(self.out / f"{image_id}.png", np.full(mask.shape, 255, np.uint8))
            return ItemResult(image_id, "done", stat=event)
        write_label_png(self.out / f"{image_id}.png", assign_label(mask, category))
        return ItemResult(image_id, "done")
