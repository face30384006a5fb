"""Mask quality against hidden ground truth (the synthetic ImageNet part has it; real
ImageNet does not): per-image foreground IoU and the dataset-level IoU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from c2fbench.data.images import list_images
from c2fbench.data.mit import read_mask_png
from c2fbench.errors import InputError


def score_masks(masks: Path, truth: Path) -> dict:
    """Compare every mask under ``masks`` with ``truth/<id>.png`` (nonzero = foreground).

    Returns ``num_images``, ``mean_iou`` (mean of per-image IoUs, percent), ``dataset_iou``
    (one intersection over one union summed over images, percent) and ``empty_masks``.
    """
    ids = list_images(masks)
    inter = union = 0
    ious, empty = [], 0
    for image_id in ids:
        mask = read_mask_png(masks / f"{image_id}.png")
        gt = read_mask_png(truth / f"{image_id}.png")
        if mask.shape != gt.shape:
            raise InputError(f"{masks / image_id}.png: mask is {mask.shape[::-1]} but the ground truth is {gt.shape[::-1]}")
        i, u = int((mask & gt).sum()), int((mask | gt).sum())
        inter, union = inter + i, union + u
        ious.append(i / u if u else 1.0)
        empty += not mask.any()
    return {"num_images": len(ids), "mean_iou": 100 * float(np.mean(ious)),
            "dataset_iou": 100 * inter / union if union else 100.0, "empty_masks": empty}
