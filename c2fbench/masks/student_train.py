"""Train the student network against an unsupervised teacher, as Croitoru et al. did.

The authors' teacher is VideoPCA on video; ours is OpenCV saliency on still images
(``c2fbench.masks.saliency``). The recipe is theirs (``train.py``, README; see
reference/train-anchors.md section 1):

1. Rank the teacher's soft masks by confidence and keep the top 10-20% (``keep``), but
   never fewer than one batch (32) where there are that many images: on a small set, such
   as the synthetic presets, that is far more than ``keep`` (32 of the tiny preset's 40).
2. Images and teacher masks at 160x160, a random 128x128 crop of both (plus a random
   horizontal flip, ours), the mask crop resized to 32x32.
3. Adam (lr 1e-3), batch 32, mean squared error. The original declares an FC weight
   decay of 0.004 but its ``train_op`` minimises the MSE alone, so none is applied here.

Two passes keep memory to the kept images only: the first computes every image's
confidence, the second re-reads the kept ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from c2fbench.data.images import find_image, list_images, read_rgb
from c2fbench.errors import InputError
from c2fbench.masks.saliency import SALIENCY_METHODS, saliency_map, teacher_confidence
from c2fbench.masks.student import INPUT_SIZE, StudentNet, save_student, student_inputs

STORE_SIZE = 160  # images and teacher masks are kept at 160x160, then cropped to 128
TARGET_SIZE = 32


def kept_count(n: int, *, keep: float, batch_size: int) -> int:
    """How many of ``n`` images to keep: the top ``keep`` fraction, but at least one
    batch's worth where there are that many images."""
    if n <= 0:
        return 0
    return min(n, max(math.ceil(keep * n), batch_size))


def select_confident(confidences: Sequence[float], count: int) -> np.ndarray:
    """Indices of the ``count`` most confident masks, most confident first; ties keep
    the earlier image."""
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="stable")
    return order[:count]


def progress_total(n_images: int, *, keep: float, batch_size: int, epochs: int) -> int:
    """Units :func:`train_student` reports through ``advance``: each listed image once
    (teacher pass), each kept image once more (re-read) and once per epoch."""
    return n_images + (epochs + 1) * kept_count(n_images, keep=keep, batch_size=batch_size)


def _at_store_size(rgb: np.ndarray) -> np.ndarray:
    import cv2

    shrink = rgb.shape[0] >= STORE_SIZE and rgb.shape[1] >= STORE_SIZE
    return cv2.resize(rgb, (STORE_SIZE, STORE_SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _teacher(rgb160: np.ndarray, method: str) -> np.ndarray:
    """Teacher mask as uint8 0..255 (the original stored its soft masks that way too)."""
    return np.round(saliency_map(rgb160, method=method) * 255).astype(np.uint8)


def _batch(images: np.ndarray, masks: np.ndarray, indices: np.ndarray,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, 6, 128, 128) and targets (B, 1, 32, 32) in [0, 1]: a random crop and
    flip of each image and the same crop and flip of its teacher mask."""
    import cv2

    xs, ys = [], []
    for i in indices:
        top, left = rng.integers(0, STORE_SIZE - INPUT_SIZE + 1, size=2)
        image = images[i, top:top + INPUT_SIZE, left:left + INPUT_SIZE]
        mask = masks[i, top:top + INPUT_SIZE, left:left + INPUT_SIZE]
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        xs.append(student_inputs(np.ascontiguousarray(image)))
        target = cv2.resize(np.ascontiguousarray(mask, dtype=np.float32) / 255.0, (TARGET_SIZE, TARGET_SIZE),
                            interpolation=cv2.INTER_AREA)
        ys.append(target[None])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _confidences(root: Path, rels: list[str], teacher: str, advance) -> tuple[list[float], list[str]]:
    """Teacher confidence of every image (-inf for an unreadable one) and the unreadable ids."""
    confidences, unreadable = [], []
    for rel in rels:
        try:
            rgb = read_rgb(find_image(root, rel))
        except InputError:
            unreadable.append(rel)
            confidences.append(-math.inf)
        else:
            confidences.append(teacher_confidence(saliency_map(_at_store_size(rgb), method=teacher)))
        advance(1)
    return confidences, unreadable


def train_student(images: Path, out: Path, *, teacher: str = "spectral", keep: float = 0.15, epochs: int = 10,
                  batch_size: int = 32, lr: float = 1e-3, width: int = 256, head_channels: int = 64,
                  seed: int = 0, device: str = "cpu", advance: Callable[[int], None] | None = None) -> dict:
    """Train a :class:`StudentNet` on the teacher's most confident masks of the images
    under ``images`` (:func:`kept_count` of them: the ``keep`` fraction, at least a batch);
    write it to ``out`` with :func:`save_student` and return a summary.

    Deterministic for a ``seed`` on the CPU (CUDA convolutions may differ in the last bits). Unreadable images are skipped and counted (summary
    ``unreadable``). ``advance(n)`` reports progress; its total is :func:`progress_total`.
    """
    if teacher not in SALIENCY_METHODS:
        raise ValueError(f"unknown teacher {teacher!r} (expected one of {SALIENCY_METHODS})")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1 and lr > 0 (got {epochs}, {batch_size}, {lr})")
    advance = advance or (lambda n: None)
    images = Path(images)
    rels = list_images(images)

    confidences, unreadable = _confidences(images, rels, teacher, advance)
    readable = len(rels) - len(unreadable)
    if readable == 0:
        raise InputError(f"{images}: none of the {len(rels)} images could be read (first: {unreadable[0]})")
    count = kept_count(readable, keep=keep, batch_size=batch_size)
    # the bar's total assumed every listed image readable; settle the difference now
    advance((epochs + 1) * (kept_count(len(rels), keep=keep, batch_size=batch_size) - count))
    kept = select_confident(confidences, count)

    stored = np.empty((count, STORE_SIZE, STORE_SIZE, 3), np.uint8)
    teacher_masks = np.empty((count, STORE_SIZE, STORE_SIZE), np.uint8)
    for slot, index in enumerate(kept):
        stored[slot] = _at_store_size(read_rgb(find_image(images, rels[index])))
        teacher_masks[slot] = _teacher(stored[slot], teacher)
        advance(1)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = StudentNet(width=width, head_channels=head_channels).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    epoch_losses = []
    model.train()
    for epoch in range(epochs):
        total = 0.0
        order = rng.permutation(count)
        for start in range(0, count, batch_size):
            x, y = _batch(stored, teacher_masks, order[start:start + batch_size], rng)
            x, y = x.to(device), y.to(device)
            loss = torch.nn.functional.mse_loss(model(x), y)
            if not torch.isfinite(loss):
                raise RuntimeError(f"student training diverged: loss {loss.item()} in epoch {epoch + 1} "
                                   f"(lr {lr}); lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            advance(len(x))
        epoch_losses.append(total / count)

    from c2fbench import __version__

    summary = {"images": len(rels), "unreadable": len(unreadable), "unreadable_ids": unreadable[:10],
               "kept": count, "kept_ids": [rels[i] for i in kept], "teacher": teacher, "keep": keep,
               "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
               "final_loss": epoch_losses[-1], "epoch_losses": epoch_losses}
    extra = {k: summary[k] for k in ("teacher", "keep", "epochs", "batch_size", "lr", "seed", "kept",
                                      "final_loss", "epoch_losses")}
    save_student(out, model, extra={**extra, "images": str(images), "c2fbench_version": __version__})
    return {**summary, "out": str(out)}
