"""One round of training (Algorithm 1, line 4): SGD on the current masks.

The paper's settings: SGD, batch 12, lr 2.5e-4, momentum 0.9, weight decay 5e-4,
cross-entropy ignoring void (255). Open choices, as in the common DeepLab recipe: 10x
learning rate on the head, poly decay (power 0.9) over the round's iterations. After every
epoch the model and optimiser are checkpointed (atomically), so an interrupted round
resumes at its last finished epoch and reaches the same weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from trainers.config import TrainConfig


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class EpochState:
    """What a round needs to resume: the optimiser and the losses so far."""

    epoch: int  # epochs completed
    optimizer: dict
    losses: list[float]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The paper's SGD (or Adam, ``cfg.optimizer``), the head at ``head_lr_mult`` times the lr."""
    backbone, head = _unwrap(model).param_groups()
    groups = [
        {"params": backbone, "lr": cfg.lr, "base_lr": cfg.lr},
        {"params": head, "lr": cfg.lr * cfg.head_lr_mult, "base_lr": cfg.lr * cfg.head_lr_mult},
    ]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def train_round(model: torch.nn.Module, loader_for_epoch: Callable[[int], torch.utils.data.DataLoader], cfg: TrainConfig,
                *, round_index: int, device: torch.device, resume: EpochState | None = None,
                on_epoch_end: Callable[[EpochState], None] = lambda state: None,
                advance: Callable[[int], None] = lambda n: None) -> list[float]:
    """Train ``cfg.epochs`` epochs; returns the mean loss of each epoch.

    ``loader_for_epoch(epoch)`` gives that epoch's loader (its order and augmentation are
    seeded by the epoch, so a resumed epoch replays exactly).
    """
    optimizer = make_optimizer(model, cfg)
    start, losses = 0, []
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        start, losses = resume.epoch, list(resume.losses)
    steps_per_epoch = len(loader_for_epoch(0))
    total = max(1, cfg.epochs * steps_per_epoch)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    model.train()
    for epoch in range(start, cfg.epochs):
        running, batches = 0.0, 0
        for step, (images, labels) in enumerate(loader_for_epoch(epoch)):
            _poly_lr(optimizer, (epoch * steps_per_epoch + step) / total, cfg.poly_power)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if cfg.channels_last and device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            if not (labels != 255).any():
                advance(len(images))
                continue  # an all-void batch has no loss to learn from
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss = segmentation_loss(model(images), labels)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"round {round_index}, epoch {epoch + 1}, step {step + 1}: loss is "
                                       f"{loss.item()}; the last good checkpoint is kept (try a lower --lr)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            running, batches = running + loss.item(), batches + 1
            advance(len(images))
        losses.append(running / max(batches, 1))
        on_epoch_end(EpochState(epoch + 1, optimizer.state_dict(), losses))
    return losses


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy ignoring void (255); for one foreground channel (FPN / DFPN), binary
    cross-entropy on the non-void pixels.

    Args:
        logits: (B, C, H, W); labels: (B, H, W) int64 class indices (0/1 for one channel).
    """
    if logits.shape[1] == 1:
        valid = labels != 255
        return F.binary_cross_entropy_with_logits(logits[:, 0][valid].float(), labels[valid].float())
    return F.cross_entropy(logits, labels, ignore_index=255)


def _poly_lr(optimizer: torch.optim.Optimizer, progress: float, power: float) -> None:
    factor = max(0.0, 1.0 - progress) ** power
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def steps_per_epoch(num_samples: int, batch_size: int, world_size: int = 1) -> int:
    return math.ceil(math.ceil(num_samples / world_size) / batch_size)
