"""One round of training (Algorithm 1, line 4): the model of round r trained on round r-1's
masks.

The paper's settings: SGD, batch 12, lr 2.5e-4, momentum 0.9, weight decay 5e-4,
cross-entropy ignoring void (255). Open choices, as in the common DeepLab recipe: 10x
learning rate on the head, poly decay (power 0.9) over the round's iterations. After every
epoch the model and optimiser are checkpointed (atomically), so an interrupted round
resumes at its last finished epoch and reaches the same weights.

:func:`train_model` makes the round's model, data and checkpoints; :func:`train_epochs`
is the SGD loop itself, which reads only the optimiser settings (OptimConfig).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from c2fbench.console import info, progress
from c2fbench.errors import InputError
from c2fbench.models import build_model
from c2fbench.models.checkpoint import load_checkpoint, save_checkpoint
from trainers.classifier import load_backbone_weights
from trainers.config import OptimConfig, loss_divisor
from trainers.data import MaskDataset
from trainers.distributed import barrier, broadcast_model, wrap
from trainers.run import NORMALIZATION, Run
from trainers.rundir import check_epoch_checkpoint


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class EpochState:
    """What a round needs to resume: the optimiser and the losses so far."""

    epoch: int  # epochs completed
    optimizer: dict
    losses: list[float]


def train_model(run: Run, r: int, *, on_epoch_end: Callable[[int, int], None]) -> tuple[torch.nn.Module, list]:
    """Round ``r``'s model on ``run.device`` and the mean loss of each of its epochs: loaded
    when the round was trained, else trained on round ``r - 1``'s masks (from its last
    finished epoch when one was checkpointed); ``on_epoch_end(r, epoch)`` after each epoch."""
    cfg = run.cfg
    if run.model_path(r).is_file():
        model, meta = load_checkpoint(run.model_path(r))
        return model.to(run.device), meta.get("losses", [])
    model, resume = _starting_model(run, r)
    broadcast_model(run.dist, model)
    model = model.to(run.device)
    if cfg.optim.nhwc(run.device):
        model = model.to(memory_format=torch.channels_last)
    dataset = MaskDataset(run.samples, run.masks(r - 1), resize=cfg.resize, crop=cfg.crop, flip=cfg.flip,
                          normalization=NORMALIZATION, seed=cfg.seed, scale=(cfg.scale_min, cfg.scale_max))
    if len(dataset) == 0:
        raise InputError(f"{run.masks(r - 1)}: every mask was dropped; nothing to train round {r} on")
    total = len(dataset) * (cfg.epochs_of(r) - (resume.epoch if resume else 0))
    with progress(max(total // run.dist.world, 1), f"train round {r}") as advance:
        losses = train_epochs(wrap(run.dist, model, run.device), partial(_epoch_loader, run, dataset, r), cfg.optim_of(r),
                              epochs=cfg.epochs_of(r), round_index=r, device=run.device, resume=resume,
                              on_epoch_end=partial(_save_epoch, run, model, r, on_epoch_end), advance=advance)
    if run.dist.is_main:
        _save(run, model, run.model_path(r), {"round": r, "losses": losses})
        run.epoch_path(r).unlink(missing_ok=True)
    barrier(run.dist)
    return model, losses


def _starting_model(run: Run, r: int) -> tuple[torch.nn.Module, EpochState | None]:
    """The model round ``r`` starts from: its last checkpointed epoch (and the optimiser's
    state, to resume), else the previous round's model, else fresh weights (``reinit``)."""
    cfg = run.cfg
    if run.epoch_path(r).is_file():
        check_epoch_checkpoint(run.epoch_path(r))
        model, meta = load_checkpoint(run.epoch_path(r))
        info(f"round {r}: resuming after epoch {meta['epoch']}")
        return model, EpochState(meta["epoch"], meta["optimizer"], meta["losses"])
    if r > 1 and not cfg.reinit:
        return load_checkpoint(run.model_path(r - 1))[0], None
    torch.manual_seed(cfg.seed * 1000 + r)
    model = build_model(cfg.arch, **_model_kwargs(run))
    if cfg.backbone_weights:
        load_backbone_weights(model, Path(cfg.backbone_weights), cfg.arch)
    return model, None


def _model_kwargs(run: Run) -> dict:
    return {"num_classes": len(run.classes), "pretrained_backbone": run.cfg.pretrained_backbone}


def _epoch_loader(run: Run, dataset: MaskDataset, r: int, epoch: int) -> torch.utils.data.DataLoader:
    """Epoch ``epoch``'s loader of round ``r``: its order seeded by (seed, round, epoch), so a
    resumed epoch replays exactly; this rank's share under DDP."""
    cfg = run.cfg
    dataset.set_epoch(r, epoch)
    if run.dist.enabled:
        sampler = torch.utils.data.DistributedSampler(dataset, run.dist.world, run.dist.rank, seed=cfg.seed)
        sampler.set_epoch(r * 1000 + epoch)
    else:
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + r * 1000 + epoch)
        sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
    return torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                                       num_workers=cfg.loader_workers, pin_memory=run.device.type == "cuda")


def _save_epoch(run: Run, model: torch.nn.Module, r: int, on_epoch_end: Callable[[int, int], None],
                state: EpochState) -> None:
    """Checkpoint a finished epoch of round ``r`` (``last.pt``), to resume from."""
    if run.dist.is_main:
        _save(run, model, run.epoch_path(r), {"round": r, "epoch": state.epoch, "optimizer": state.optimizer,
                                               "losses": state.losses})
        info(f"round {r}, epoch {state.epoch}/{run.cfg.epochs_of(r)}: loss {state.losses[-1]:.4f}")
    barrier(run.dist)
    on_epoch_end(r, state.epoch)


def _save(run: Run, model: torch.nn.Module, path: Path, extra: dict) -> None:
    save_checkpoint(path, model, arch=run.cfg.arch, kwargs=_model_kwargs(run), classes=run.classes,
                    normalization=NORMALIZATION, extra=extra)


def make_optimizer(model: torch.nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    """The paper's SGD (or Adam, ``optim.optimizer``), the head at ``head_lr_mult`` times the lr."""
    backbone, head = _unwrap(model).param_groups()
    groups = [
        {"params": backbone, "lr": optim.lr, "base_lr": optim.lr},
        {"params": head, "lr": optim.lr * optim.head_lr_mult, "base_lr": optim.lr * optim.head_lr_mult},
    ]
    if optim.optimizer == "adam":
        return torch.optim.Adam(groups, lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)


def train_epochs(model: torch.nn.Module, loader_for_epoch: Callable[[int], torch.utils.data.DataLoader],
                 optim: OptimConfig, *, epochs: int, round_index: int, device: torch.device,
                 resume: EpochState | None = None, on_epoch_end: Callable[[EpochState], None] = lambda state: None,
                 advance: Callable[[int], None] = lambda n: None) -> list[float]:
    """The SGD loop: ``epochs`` epochs (counted from ``resume``'s); returns the mean loss of
    each epoch.

    ``loader_for_epoch(epoch)`` gives that epoch's loader of (B, 3, H, W) images and (B, H, W)
    labels (its order and augmentation are seeded by the epoch, so a resumed epoch replays
    exactly).
    """
    optimizer = make_optimizer(model, optim)
    start, losses = 0, []
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        start, losses = resume.epoch, list(resume.losses)
    steps_per_epoch = len(loader_for_epoch(0))
    total = max(1, epochs * steps_per_epoch)
    use_amp = optim.amp and device.type == "cuda"
    divisor = loss_divisor(optim.loss_resolution)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    model.train()
    for epoch in range(start, epochs):
        running, batches = 0.0, 0
        for step, (images, labels) in enumerate(loader_for_epoch(epoch)):
            _poly_lr(optimizer, (epoch * steps_per_epoch + step) / total, optim.poly_power)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if optim.nhwc(device):
                images = images.contiguous(memory_format=torch.channels_last)
            if not (labels != 255).any():
                advance(len(images))
                continue  # an all-void batch has no loss to learn from
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss = batch_loss(model, images, labels, divisor)
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


def batch_loss(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, divisor: int | None) -> torch.Tensor:
    """The training loss of one batch where ``loss_resolution`` takes it (its
    :func:`~trainers.config.loss_divisor`: 1 at the crop, N at the crop's size / N rounded up,
    with the logits upsampled bilinearly, None at the network's output stride)."""
    with output_stride_logits(model, divisor != 1):
        logits = model(images)
    if divisor not in (None, 1):
        size = [-(-n // divisor) for n in labels.shape[-2:]]
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return segmentation_loss(logits, labels)


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy ignoring void (255); for one foreground channel (FPN / DFPN), binary
    cross-entropy on the non-void pixels. Logits smaller than the labels (the network's output
    stride, ``loss_resolution="output"``, or the size ``"input/N"`` upsamples them to) are
    scored against the labels shrunk to their size.

    Args:
        logits: (B, C, h, w); labels: (B, H, W) int64 class indices (0/1 for one channel).
    """
    if logits.shape[-2:] != labels.shape[-2:]:
        labels = shrink_labels(labels, logits.shape[-2:])
    if logits.shape[1] == 1:
        valid = labels != 255
        return F.binary_cross_entropy_with_logits(logits[:, 0][valid].float(), labels[valid].float())
    return F.cross_entropy(logits, labels, ignore_index=255)


@contextlib.contextmanager
def output_stride_logits(model: torch.nn.Module, enabled: bool):
    """While ``enabled``, the model (DeepLabV2, the FPNs: their ``upsample`` attribute) returns
    its logits at its output stride instead of upsampled to the input."""
    inner = _unwrap(model)
    if not enabled:
        yield
        return
    inner.upsample = False
    try:
        yield
    finally:
        inner.upsample = True


def shrink_labels(labels: torch.Tensor, size) -> torch.Tensor:
    """(B, H, W) labels at ``size`` (h, w) by nearest neighbour at pixel centres, as DeepLab
    v2 trains (its labels shrunk to the score map; kazuto1011/deeplab-pytorch's
    ``resize_labels`` with PIL's NEAREST): no new label values, void stays void."""
    return F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest-exact")[:, 0].long()


def _poly_lr(optimizer: torch.optim.Optimizer, progress: float, power: float) -> None:
    factor = max(0.0, 1.0 - progress) ** power
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def steps_per_epoch(num_samples: int, batch_size: int, world_size: int = 1) -> int:
    return math.ceil(math.ceil(num_samples / world_size) / batch_size)
