"""Mask quality against hidden ground truth (the synthetic ImageNet part has it; real
ImageNet does not): per-image foreground IoU and the dataset-level IoU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.data.images import list_images
from c2fbench.data.png import read_label_png, read_mask_png
from c2fbench.errors import InputError


def read_foreground(path: Path, category: int | None = None) -> np.ndarray | None:
    """Foreground of a 0/255 mask PNG, or of a palette label map (class > 0, void 255
    excluded; only ``category`` when given); None for a label map that is entirely void (an
    image dropped between rounds)."""
    from c2fbench.data.images import open_image

    with open_image(path) as im:  # reads the header only; a missing, special or corrupt file is an InputError
        palette = im.mode == "P"
    if not palette:
        return read_mask_png(path)
    label = read_label_png(path)
    if (label == 255).all():
        return None
    return label == category if category is not None else (label > 0) & (label != 255)


def score_masks(masks: Path, truth: Path, ids: list[str] | None = None,
                categories: dict[str, int] | None = None) -> dict:
    """Compare every mask under ``masks`` with ``truth/<id>.png`` (nonzero = foreground).

    Masks may be 0/255 PNGs or palette label maps (then void is not foreground, and maps
    that are entirely void, dropped images, are not scored; with ``categories``, id ->
    class index, only that class is foreground). Returns ``num_images``,
    ``mean_iou`` (mean of per-image IoUs, percent), ``dataset_iou`` (one intersection over
    one union summed over images, percent), ``empty_masks`` and ``dropped``.
    """
    ids = list_images(masks) if ids is None else ids
    inter = union = 0
    ious, empty, dropped = [], 0, 0
    for image_id in ids:
        mask = read_foreground(masks / f"{image_id}.png", categories.get(image_id) if categories else None)
        if mask is None:
            dropped += 1
            continue
        gt = read_mask_png(truth / f"{image_id}.png")
        if mask.shape != gt.shape:
            raise InputError(f"{masks / image_id}.png: mask is {mask.shape[::-1]} but the ground truth is {gt.shape[::-1]}")
        i, u = int((mask & gt).sum()), int((mask | gt).sum())
        inter, union = inter + i, union + u
        ious.append(i / u if u else 1.0)
        empty += not mask.any()
    return {"num_images": len(ious), "mean_iou": 100 * float(np.mean(ious)) if ious else None,
            "dataset_iou": 100 * inter / union if union else 100.0, "empty_masks": empty, "dropped": dropped}
