"""Category assignment (the paper's Fig. 3): the image's category on the foreground,
background (0) elsewhere, written as a VOC palette PNG (``c2fbench masks labels``, and the
round-0 label maps of training), and strategy (a), :func:`drop_outside`, which drops a
label map with too little or too much foreground: the round-0 maps here and every later
round's in masks/refine.py, which imports it from this module (the import points one way:
refine.py comes after this stage).

The category of ``<wnid>/<stem>`` is its ImageNet folder's VOC class
(``c2fbench/data/voc_synsets.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.refine_config import DROP_SETTINGS, RefineConfig
from c2fbench.masks.runner import ItemResult

VOID = 255


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


def drop_outside(label: np.ndarray, refine: RefineConfig) -> tuple[np.ndarray, str | None]:
    """Strategy (a) on an (H, W) uint8 label map: an all-void map and ``dropped_small`` /
    ``dropped_large`` when under ``min_foreground`` or over ``max_foreground`` of its pixels
    are foreground; else ``label`` itself and None (always so with ``drop_outside`` off)."""
    fraction = float((label > 0).mean())
    if refine.drop_outside and fraction < refine.min_foreground:
        return np.full_like(label, VOID), "dropped_small"
    if refine.drop_outside and fraction > refine.max_foreground:
        return np.full_like(label, VOID), "dropped_large"
    return label, None


@dataclass(frozen=True)
class LabelJob:
    masks: Path
    out: Path
    wnid_labels: dict | None  # None: foreground task, category 1 everywhere
    # strategy (a) on the label maps (training's round 0); off for `c2fbench masks labels`.
    # options.json records only the settings of (a), one key each (record.job_options).
    refine: RefineConfig = field(default=RefineConfig(drop_outside=False), metadata={"record": DROP_SETTINGS})
    name: str = "masks labels"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.png import read_mask_png, write_label_png

        try:
            category = category_of(image_id, self.wnid_labels)
            mask = read_mask_png(self.masks / f"{image_id}.png")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        label, event = drop_outside(assign_label(mask, category), self.refine)
        write_label_png(self.out / f"{image_id}.png", label)
        return ItemResult(image_id, "done", stat=event)
