"""The enhance job: GrabCut (grabcut.py) over a tree of coarse masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.masks.runner import ItemResult, item_seed


@dataclass(frozen=True)
class EnhanceJob:
    images: Path
    coarse: Path
    out: Path
    init: str = "rect"
    box: str = "tight"
    iterations: int = 5
    scale: float = 1.0
    seed: int = 0
    name: str = "masks enhance"

    def outputs(self, image_id: str) -> list[Path]:
        return [self.out / f"{image_id}.png"]

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.images import find_image, read_rgb
        from c2fbench.data.png import read_mask_png, write_mask_png
        from c2fbench.masks.grabcut import enhance

        try:
            rgb = read_rgb(find_image(self.images, image_id))
            coarse = read_mask_png(self.coarse / f"{image_id}.png")
            if coarse.shape != rgb.shape[:2]:
                raise InputError(f"{self.coarse / image_id}.png: coarse mask is {coarse.shape[1]}x{coarse.shape[0]} "
                                 f"but the image is {rgb.shape[1]}x{rgb.shape[0]}")
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        result = enhance(rgb, coarse, init=self.init, box=self.box, iterations=self.iterations, scale=self.scale,
                         seed=item_seed(self.seed, image_id))
        write_mask_png(self.out / f"{image_id}.png", result.mask)
        return ItemResult(image_id, "done", stat=result.fallback)
