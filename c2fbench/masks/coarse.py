"""Coarse masks (Algorithm 1, line 1): a soft foreground map per image, then binary.

``method="saliency"`` uses the OpenCV teacher directly (a fast baseline);
``method="student"`` runs the student network of Croitoru et al. (see student.py), which
is what the paper uses. The binary mask is written as a 0/255 PNG at ``OUT/<id>.png``,
and with ``soft_out`` the soft map as an 8-bit PNG (0..255) at ``SOFT_OUT/<id>.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.masks.runner import ItemResult
from c2fbench.masks.saliency import DEFAULT_THRESHOLD, binarize, saliency_map

METHODS = ("saliency", "student")


@dataclass(frozen=True)
class CoarseJob:
    images: Path
    out: Path
    method: str = "saliency"
    saliency: str = "spectral"
    weights: Path | None = None
    threshold: float | str = DEFAULT_THRESHOLD
    soft_out: Path | None = None
    name: str = "masks coarse"

    def outputs(self, image_id: str) -> list[Path]:
        paths = [self.out / f"{image_id}.png"]
        return paths + [self.soft_out / f"{image_id}.png"] if self.soft_out else paths

    def soft_map(self, rgb: np.ndarray) -> np.ndarray:
        if self.method == "saliency":
            return saliency_map(rgb, method=self.saliency)
        from c2fbench.masks.student import predict_soft

        return predict_soft(_student(self.weights), rgb)

    def process(self, image_id: str) -> ItemResult:
        from c2fbench.data.images import find_image, read_rgb
        from c2fbench.data.png import write_mask_png

        try:
            rgb = read_rgb(find_image(self.images, image_id))
        except InputError as e:
            return ItemResult(image_id, "failed", error=str(e))
        soft = self.soft_map(rgb)
        mask = binarize(soft, threshold=self.threshold)
        if self.soft_out:
            from c2fbench.atomic import atomic_write_bytes
            from c2fbench.data.png import encode_gray_png

            atomic_write_bytes(self.soft_out / f"{image_id}.png", encode_gray_png(np.round(soft * 255).astype(np.uint8)))
        write_mask_png(self.out / f"{image_id}.png", mask)
        return ItemResult(image_id, "done", stat=None if mask.any() else "empty_mask")


_students: dict = {}


def _student(weights: Path):
    """The student network, loaded once per process."""
    if weights not in _students:
        import torch

        from c2fbench.masks.student import load_student

        torch.set_num_threads(1)
        _students[weights] = load_student(weights)
    return _students[weights]
