"""Everything a training run needs, checked before its run directory is created.

A run that cannot start must leave nothing behind: a half-made ``config.json`` would make
the next attempt answer "a run exists here". So the device, the torchrun environment, the
training images, the model (and its downloaded or pretrained weights), the student
network, the validation set and the extras are all checked first, and only then is
``--out`` written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from c2fbench.errors import InputError
from trainers.config import TrainConfig, validate


@dataclass(frozen=True)
class TrainImage:
    rel: str  # the id: the image's path under the images folder, without suffix
    path: Path


def num_classes(cfg: TrainConfig) -> int:
    """21 VOC classes for the semantic task, one foreground channel for the foreground task."""
    from c2fbench.data.voc import VOC_CLASSES

    return len(VOC_CLASSES) if cfg.task == "semantic" else 1


def training_images(cfg: TrainConfig, images: Path) -> tuple[Path, list]:
    """(the image root, the samples with ``.rel`` and ``.path``); InputError when there are none."""
    if cfg.task == "semantic":
        from c2fbench.data.imagenet import find_imagenet_train, list_imagenet

        root, samples = find_imagenet_train(images), list_imagenet(images)
    else:
        from c2fbench.data.images import find_image, list_images

        if not Path(images).is_dir():
            raise InputError(f"{images}: training image folder not found")
        root, samples = Path(images), [TrainImage(rel, find_image(images, rel)) for rel in list_images(images)]
    if not samples:
        raise InputError(f"{images}: no training images found")
    return root, samples


def build_checked(arch: str, *, classes: int, pretrained_backbone: bool):
    """``build_model``, with a failed download of the ImageNet weights as an InputError that
    says what to do offline."""
    from urllib.error import URLError

    from c2fbench.models import build_model

    try:
        return build_model(arch, num_classes=classes, pretrained_backbone=pretrained_backbone)
    except (URLError, ConnectionError, TimeoutError) as e:
        import torch.hub

        reason = getattr(e, "reason", None) or e
        raise InputError(
            f"cannot download the ImageNet weights of {arch}'s backbone (offline? {reason}): put torchvision's "
            f"weight file in torch's cache, {Path(torch.hub.get_dir()) / 'checkpoints'} (the file named in the "
            "'Downloading' line above; $TORCH_HOME moves the cache), or train without them: "
            "--no-pretrained-backbone (\"pretrained_backbone\": false in a --config), optionally with "
            "--backbone-weights FILE from `c2fbench train classifier`") from None


def check_validation_set(cfg: TrainConfig) -> None:
    """The validation benchmark loads and scores what this run's model predicts."""
    from c2fbench.eval.benchmarks import load_benchmark

    bench = load_benchmark(cfg.val_benchmark, cfg.val_root)
    classes = num_classes(cfg)
    if bench.kind != cfg.task:
        raise InputError(f"{cfg.val_root}: {bench.name} is a {bench.kind} benchmark ({len(bench.classes)} classes), "
                         f"but this run trains a {cfg.task} model ({classes} output channel"
                         f"{'s' if classes != 1 else ''}); choose a {cfg.task} val_benchmark")
    if bench.kind == "semantic" and len(bench.classes) != classes:
        raise InputError(f"{cfg.val_root}: {bench.name} scores {len(bench.classes)} classes, this run's model "
                         f"predicts {classes}")
    if not bench.samples:
        raise InputError(f"{cfg.val_root}: {bench.name} has no image to score")
    _check_ground_truth(bench)


def _check_ground_truth(bench) -> None:
    """Every ground-truth file reads, and a label map holds only classes and void: found here,
    not at the first validation, after a round of training."""
    import numpy as np

    from c2fbench.data.png import read_label_png, read_mask_png

    for sample in bench.samples:
        if bench.kind != "semantic":
            read_mask_png(sample.label)
            continue
        values = np.unique(read_label_png(sample.label))
        bad = values[(values >= len(bench.classes)) & (values != 255)]
        if bad.size:
            raise InputError(f"{sample.label}: ground truth of {sample.id} holds value {int(bad[0])}, neither a "
                             f"class 0..{len(bench.classes) - 1} nor void 255")


def check_before_start(cfg: TrainConfig, *, images: Path, out: Path, resume: bool,
                       device: str | None) -> tuple[Path, list, str]:
    """Check every input of a run; returns (image root, training samples, device).

    Writes nothing; the caller creates ``out`` only after this returns.
    """
    from c2fbench.files import check_out_folder, check_output_apart
    from c2fbench.devices import resolve_device
    from trainers.distributed import torchrun_env
    from trainers.rundir import check_run_files

    out = Path(out)
    check_out_folder(out)
    check_output_apart(out, {"the training images": images, "--backbone-weights": cfg.backbone_weights,
                             "--student-weights": cfg.masks.student_weights, "--val-root": cfg.val_root})
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (--out names the run directory)")
    if resume:
        check_run_files(out)
    elif (out / "config.json").is_file():
        raise InputError(f"{out}: a run exists here; pass --resume to continue it, or choose another --out")
    validate(cfg)
    device = resolve_device(device)
    torchrun_env()
    root, samples = training_images(cfg, Path(images))
    if cfg.masks.coarse_method == "student":
        from c2fbench.masks.student import load_student

        weights = cfg.masks.student_weights
        if not os.path.lexists(weights):
            raise InputError(f"{weights}: student checkpoint not found (coarse_method student reads it): train one "
                             f"with `c2fbench masks student-train --images {root} --out {weights}`, or use "
                             "--coarse-method saliency")
        load_student(weights)
    if cfg.val_root:
        check_validation_set(cfg)
    if cfg.predict.crf:
        try:
            import pydensecrf.densecrf  # noqa: F401
        except ImportError:
            raise InputError("refine_crf needs the dense CRF extra: pip install -e '.[crf]' in the "
                             "c2fbench checkout") from None
    # last, as the slowest: building the model (downloading its ImageNet weights once)
    model = build_checked(cfg.arch, classes=num_classes(cfg), pretrained_backbone=cfg.pretrained_backbone)
    if cfg.backbone_weights:
        from trainers.classifier import load_backbone_weights

        load_backbone_weights(model, Path(cfg.backbone_weights), cfg.arch)
    return root, samples, device
