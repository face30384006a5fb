"""Bounding-box masks (Table I's "Bounding Boxes" row): each mask's box, filled.

The paper's Table I trains the first DeepLab on four kinds of masks; this one is the
filled bounding box of each GrabCut-enhanced mask, the category inside, background outside.
``box="tight"`` is the smallest box holding every foreground pixel; ``box="robust"`` spans
the 5th to 95th percentile of the foreground's rows and columns (grabcut.robust_box), so
that a few stray pixels GrabCut leaves far from the object do not stretch it over the image.
An empty mask stays empty (the label step's strategy (a) then drops the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.runner import ItemResult


def filled_box(mask: np.ndarray, box: str = "tight") -> np.ndarray:
    """(H, W) bool: True inside ``mask``'s box (``"tight"`` or ``"robust"``, see above)."""
    from c2fbench.masks.grabcut import BOXES, bounding_box, robust_box

    if box not in BOXES:
        raise ValueError(f"box must be one of {BOXES}, got {box!r}")
    out = np.zeros(mask.shape, dtype=bool)
    corner = bounding_box(mask) if box == "tight" else robust_box(mask)
    if corner is not None:
        x, y, w, h = corner
        out[y:y + h, x:x + w] = True
    return out


@dataclass(frozen=True)
class BoxJob:
    masks: Path
    out: Path
    box: str = "tight"
    name: str = "masks boxes"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.png import read_mask_png, write_mask_png

        try:
            mask = read_mask_png(self.masks / f"{image_id}.png")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        write_mask_png(self.out / f"{image_id}.png", filled_box(mask, self.box))
        return ItemResult(image_id, "done", stat=None if mask.any() else "empty_mask")
