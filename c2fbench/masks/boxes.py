"""Bounding-box masks (Table I's "Bounding Boxes" row): each mask's smallest box, filled.

The paper's Table I trains the first DeepLab on four kinds of masks; this one is the
filled bounding box of each GrabCut-enhanced mask, the category inside, background outside.
An empty mask stays empty (the label step's strategy (a) then drops the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.runner import ItemResult


def filled_box(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: True inside the smallest box holding every foreground pixel of ``mask``."""
    from c2fbench.masks.grabcut import bounding_box

    out = np.zeros(mask.shape, dtype=bool)
    box = bounding_box(mask)
    if box is not None:
        x, y, w, h = box
        out[y:y + h, x:x + w] = True
    return out


@dataclass(frozen=True)
class BoxJob:
    masks: Path
    out: Path
    name: str = "masks boxes"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.png import read_mask_png, write_mask_png

        try:
            mask = read_mask_png(self.masks / f"{image_id}.png")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        write_mask_png(self.out / f"{image_id}.png", filled_box(mask))
        return ItemResult(image_id, "done", stat=None if mask.any() else "empty_mask")
