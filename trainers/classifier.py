"""Backbone pretraining from image-level labels: ``c2fbench train classifier``.

The paper's DeepLab starts from a ResNet-101 trained on ImageNet classification, that is
on image-level labels, the only supervision the method allows. Offline, the same regime
comes from training the segmentation model's own backbone as an image classifier on the
ImageNet-format folder it will later segment: each image's label is its folder's VOC class
(no masks, nothing more). The backbone's features are average-pooled into a linear layer.

A deterministic held-out part (every ``holdout``-th image of each class, at least one)
gives the top-1 accuracy logged after every epoch. The state after each epoch is written
atomically to ``OUT.partial``, so ``resume=True`` continues from the last finished epoch
and reaches the same weights. The result, ``OUT``, is a plain dict read with
``weights_only=True``::

    {"format": "c2fbench-backbone", "version": 1, "arch": "deeplab_v2_mobilenet",
     "state_dict": {...backbone...}, "classes": [...], "history": [{"epoch", "loss", "top1"}]}

``load_backbone_weights`` puts it into a freshly built segmentation model of the same arch.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from c2fbench.errors import InputError

FORMAT = "c2fbench-backbone"
VERSION = 1


@dataclass(frozen=True)
class ClassifierConfig:
    arch: str = "deeplab_v2_mobilenet"
    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    resize: int = 112  # images resized to resize x resize, then randomly cropped
    crop: int = 96
    holdout: int = 10  # every holdout-th image of each class is held out for top-1
    seed: int = 0


class BackboneClassifier(nn.Module):
    """The segmentation model's backbone, global average pooling and a linear layer."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        with torch.no_grad():
            channels = _last_feature(backbone(torch.zeros(1, 3, 64, 64))).shape[1]
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(_last_feature(self.backbone(x)).mean(dim=(2, 3)))


def _last_feature(features) -> torch.Tensor:
    """A backbone's deepest map: the tensor itself, or the last of an FPN backbone's levels."""
    return list(features.values())[-1] if isinstance(features, dict) else features


class LabelledImages(torch.utils.data.Dataset):
    """(image, class) pairs, resized and (when training) randomly cropped and flipped; the
    randomness is seeded by (seed, epoch, index) so that a resumed epoch replays exactly."""

    def __init__(self, samples: list, *, resize: int, crop: int, train: bool, seed: int) -> None:
        self.samples, self.resize, self.crop, self.train, self.seed = samples, resize, crop, train, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        import cv2

        from c2fbench.data.images import read_rgb
        from c2fbench.inference import normalise
        from c2fbench.models import IMAGENET_MEAN, IMAGENET_STD

        sample = self.samples[index]
        rgb = cv2.resize(read_rgb(sample.path), (self.resize, self.resize), interpolation=cv2.INTER_LINEAR)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            y, x = rng.integers(0, self.resize - self.crop + 1, size=2)
            rgb = rgb[y:y + self.crop, x:x + self.crop]
            if rng.random() < 0.5:
                rgb = rgb[:, ::-1]
        return normalise(rgb, {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}), sample.label - 1


def split_holdout(samples: list, every: int) -> tuple[list, list]:
    """(train, held out): every ``every``-th image of each class (the first included) is held out."""
    seen: dict[int, int] = {}
    train, held = [], []
    for sample in samples:
        k = seen.get(sample.label, 0)
        seen[sample.label] = k + 1
        (held if k % every == 0 else train).append(sample)
    return train, held


@contextlib.contextmanager
def _no_progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


def train_classifier(images: Path, out: Path, cfg: ClassifierConfig, *, resume: bool = False,
                     progress=_no_progress, info: Callable[[str], None] = lambda message: None,
                     warn: Callable[[str], None] = lambda message: None,
                     on_epoch: Callable[[dict], None] = lambda row: None) -> dict:
    """Train (or resume) and write ``out``; returns its content. Raises InputError on bad input.

    ``progress(total, description)`` is a context manager yielding ``advance(n)``
    (:func:`c2fbench.console.progress`); ``on_epoch`` gets each epoch's row; ``warn`` is told
    which unreadable images are left out.
    """
    from c2fbench.data.imagenet import list_imagenet
    from c2fbench.data.voc import VOC_CLASSES
    from c2fbench.models import build_model

    from c2fbench.files import check_output_apart

    out, partial = Path(out), Path(f"{out}.partial")
    check_output_apart(out, {"--images": images})
    if out.exists() and not resume:
        raise InputError(f"{out}: exists already; pass --resume to keep it, or choose another --out")
    if resume and out.is_file():  # a finished run: kept only for the options that made it
        finished = _read(out, cfg.arch)
        _check_same_options(out, finished.get("config"), cfg, "was trained", "choose another --out")
        return finished
    state = _read(partial, cfg.arch) if resume and partial.is_file() else None  # before the images' check
    if state is not None:
        _check_same_options(partial, state.get("config"), cfg, "was started", "remove it")
    samples = list_imagenet(images)
    for check in ("listed", "readable"):  # too few listed: said before any image is read
        if check == "readable":
            samples = readable(samples, progress=progress, warn=warn)
        train_set, held = split_holdout(samples, cfg.holdout)
        if not train_set or not held:
            raise InputError(f"{images}: need at least two images per class to hold some out (found "
                             f"{len(samples)} {check})")
        _check_classes(images, samples, check)
    torch.manual_seed(cfg.seed)
    # the builder's own class count (21 for DeepLab, 1 for FPN / DFPN): the backbone does not depend on it
    model = BackboneClassifier(build_model(cfg.arch).backbone, len(VOC_CLASSES) - 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    history: list[dict] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        info(f"resuming {partial} after epoch {len(history)}")
    data = LabelledImages(train_set, resize=cfg.resize, crop=cfg.crop, train=True, seed=cfg.seed)
    steps = cfg.epochs * -(-len(data) // cfg.batch_size)
    with progress(max(1, len(data) * (cfg.epochs - len(history))), "train classifier") as advance:
        for epoch in range(len(history), cfg.epochs):
            data.epoch = epoch
            order = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
            loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size,
                                                 sampler=torch.utils.data.RandomSampler(data, generator=order))
            model.train()
            total, count = 0.0, 0
            for step, (x, y) in enumerate(loader):
                for group in optimizer.param_groups:  # poly decay over all epochs
                    group["lr"] = cfg.lr * (1 - (epoch * len(loader) + step) / steps) ** 0.9
                loss = nn.functional.cross_entropy(model(x), y)
                if not torch.isfinite(loss):
                    raise InputError(f"epoch {epoch + 1}: loss is {loss.item()}; try a lower --lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(x), count + len(x)
                advance(len(x))
            row = {"epoch": epoch + 1, "loss": total / count, "top1": top1(model, held, cfg)}
            history.append(row)
            _save(partial, {"arch": cfg.arch, "config": asdict(cfg), "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "history": history})
            on_epoch(row)
    result = {"arch": cfg.arch, "state_dict": model.backbone.state_dict(),
              "classes": list(VOC_CLASSES[1:]), "history": history, "config": asdict(cfg),
              "held_out": len(held), "trained_on": len(train_set)}
    _save(out, result)
    partial.unlink(missing_ok=True)
    return result


def _check_same_options(path: Path, stored, cfg: ClassifierConfig, done: str, instead: str) -> None:
    """Refuse to resume ``path`` (a finished run or its ``.partial``) with options other than
    those it recorded: the learning rate decays over all ``epochs``, so even a longer run is
    not the shorter one continued. ``instead``: what else the user can do."""
    given = asdict(cfg)
    if not isinstance(stored, dict):
        raise InputError(f"{path}: records no options to compare with this run's; {instead} or run without --resume")
    for key, value in given.items():
        if stored.get(key) != value:
            raise InputError(f"{path}: {done} with {key} {stored.get(key)!r}, this run gives {value!r}; "
                             f"pass the same options to resume it, or {instead}")


def _check_classes(images: Path, samples: list, check: str) -> None:
    """Refuse fewer than two classes: a one-class classifier is right on every held-out
    image (top-1 100%) and learns nothing."""
    from c2fbench.data.voc import VOC_CLASSES

    labels = sorted({sample.label for sample in samples})
    if len(labels) < 2:
        names = ", ".join(VOC_CLASSES[label] for label in labels)
        raise InputError(f"{images}: {len(labels)} class ({names}) among the {len(samples)} images {check}; "
                         "a classifier needs at least 2 classes (with one, every held-out image is trivially "
                         "right)")


def readable(samples: list, *, progress=_no_progress, warn: Callable[[str], None]) -> list:
    """The samples whose image decodes; the others (zero-byte, truncated, a FIFO, a device)
    are left out with one warning naming them, as the segmentation runs do. InputError when
    none is left."""
    from c2fbench.data.images import read_rgb

    kept, failed = [], []
    with progress(len(samples), "check images") as advance:
        for sample in samples:
            try:
                read_rgb(sample.path)
                kept.append(sample)
            except InputError as e:
                failed.append(str(e))
            advance(1)
    if failed and not kept:
        raise InputError(f"{'every one of the ' + str(len(samples)) + ' images' if len(samples) != 1 else 'the one image'}"
                         f" is unreadable: {failed[0]}")
    if failed:
        warn(f"{len(failed)} of {len(samples)} images are unreadable and left out: {'; '.join(failed[:3])}"
             f"{'; ...' if len(failed) > 3 else ''}")
    return kept


@torch.no_grad()
def top1(model: nn.Module, held: list, cfg: ClassifierConfig) -> float:
    """Percent of held-out images whose most probable class is their label (whole image, resized)."""
    model.eval()
    data = LabelledImages(held, resize=cfg.resize, crop=cfg.crop, train=False, seed=cfg.seed)
    correct = 0
    for x, y in torch.utils.data.DataLoader(data, batch_size=64):
        correct += int((model(x).argmax(dim=1) == y).sum())
    return 100.0 * correct / len(data)


def _save(path: Path, content: dict) -> None:
    from c2fbench.atomic import atomic_open

    with atomic_open(path, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **content}, f)


def _read(path: Path, arch: str | None = None) -> dict:
    from c2fbench.files import check_regular_file

    check_regular_file(path, max_bytes=4 << 30, what="backbone weights file")  # a FIFO would hang torch.load
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: backbone weights not found") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise InputError(f"{path}: not readable as backbone weights ({type(e).__name__}); expected the output "
                         "of `c2fbench train classifier`") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise InputError(f"{path}: not c2fbench backbone weights (expected the output of `c2fbench train classifier`)")
    if arch is not None and content.get("arch") != arch:
        raise InputError(f"{path}: backbone of {content.get('arch')!r}, but this run trains {arch!r}")
    return content


def load_backbone_weights(model: nn.Module, path: Path, arch: str) -> dict:
    """Load ``path`` (from :func:`train_classifier`) into ``model.backbone``; InputError when
    the file is not such weights, is of another arch, or its tensors do not fit.

    A file of another arch is accepted when that arch's backbone is the very same network
    (the same modules, strides and dilations: FPN and DFPN share theirs), so that two heads
    can be compared from one pretrained backbone."""
    content = _read(Path(path))
    if content.get("arch") != arch and not _same_backbone(content.get("arch"), model):
        raise InputError(f"{path}: backbone of {content.get('arch')!r}, but this run trains {arch!r}")
    state = content.get("state_dict")
    own = model.backbone.state_dict()
    if not isinstance(state, dict) or set(state) != set(own):
        raise InputError(f"{path}: its tensors are not those of the {arch} backbone")
    for key, tensor in own.items():
        if not isinstance(state[key], torch.Tensor) or state[key].shape != tensor.shape:
            got = tuple(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
            raise InputError(f"{path}: {key} has shape {got}, the {arch} backbone needs {tuple(tensor.shape)}")
    model.backbone.load_state_dict(state)
    return content


def _same_backbone(other_arch, model: nn.Module) -> bool:
    """Whether ``other_arch`` builds exactly ``model``'s backbone (compared module by module)."""
    from c2fbench.models import MODELS, build_model

    if other_arch not in MODELS:
        return False
    return repr(build_model(other_arch).backbone) == repr(model.backbone)


def run_classifier(images: Path, out: Path, cfg: ClassifierConfig, *, resume: bool, progress, info) -> dict:
    """:func:`train_classifier` with a progress bar and one line per epoch (the CLI's view)."""
    from c2fbench.console import warn

    return train_classifier(images, out, cfg, resume=resume, progress=progress, info=info, warn=warn,
                            on_epoch=lambda row: info(f"epoch {row['epoch']}: loss {row['loss']:.3f}, "
                                                      f"held-out top-1 {row['top1']:.1f}%"))
