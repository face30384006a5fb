"""The resolved configuration of a training run: one frozen dataclass, written to
``RUN_DIR/config.json``; that file passed back as ``--config`` reproduces the run.

Defaults are the paper's settings (section IV-B) where it gives them; every choice it
leaves open is marked "open" with the reason for the value chosen.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from c2fbench.errors import InputError

RECIPES_DIR = Path(__file__).with_name("recipes")


TASKS = ("semantic", "foreground")


@dataclass(frozen=True)
class TrainConfig:
    # task: "semantic" (DeepLab, 21 VOC classes from ImageNet folder labels) or "foreground"
    # (FPN / DFPN, one foreground channel, section III-F)
    task: str = "semantic"
    # model
    arch: str = "deeplab_v2_resnet101"  # the paper: DeepLab v2, ResNet-101
    pretrained_backbone: bool = False  # open: ImageNet weights need the network; off by default here
    # a backbone pretrained as an image classifier on image-level labels (`c2fbench train
    # classifier`): the paper's regime (an ImageNet-classification backbone) reached offline
    backbone_weights: str | None = None
    # one round (paper, IV-B)
    rounds: int = 5
    epochs: int = 2  # open: the paper gives rounds, not epochs per round
    batch_size: int = 12
    optimizer: str = "sgd"  # the paper: SGD; "adam" for short runs from scratch (CPU demo)
    lr: float = 2.5e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    resize: int = 321  # images resized to 321x321 ...
    crop: int = 256  # ... then randomly cropped to 256x256
    flip: bool = True  # open: horizontal flip, as every DeepLab recipe does
    # open: random scaling of the resized image before the crop, (min, max) factors;
    # DeepLab v2 trains with 0.5-1.5; (1, 1) is the paper's fixed resize
    scale_min: float = 1.0
    scale_max: float = 1.0
    head_lr_mult: float = 10.0  # open: 10x on the head, the common DeepLab recipe
    poly_power: float = 0.9  # open: poly decay within each round, the common DeepLab recipe
    reinit: bool = False  # continue from the previous round's weights (open; --reinit starts fresh)
    loader_workers: int = 0
    amp: bool = True  # mixed precision where the device supports it (CUDA)
    channels_last: bool = True  # on CUDA
    seed: int = 0
    # round-0 masks (Algorithm 1, lines 1-2)
    coarse_method: str = "saliency"  # "student" needs student_weights
    saliency: str = "spectral"
    student_weights: str | None = None
    coarse_box: str = "tight"  # the paper: the smallest box
    enhance_initial: bool = True  # GrabCut on the coarse masks (False: train on coarse masks, Table I)
    initial_boxes: bool = False  # round 1 on the filled bounding box of each enhanced mask (Table I)
    grabcut_iterations: int = 5
    # between rounds (section IV-C): (a) drop, (b) keep own category, (c) GrabCut
    drop_outside: bool = True
    min_foreground: float = 0.01
    max_foreground: float = 0.80
    keep_own_category: bool = True
    # open: how (b) reads a 21-class prediction. "all": argmax over every class, then keep
    # the image's own category; "label": argmax over {background, the image's category},
    # the image-level label being known. Measured in the README.
    refine_argmax: str = "all"
    # open: the resolution of the between-round predictions. "image": the training image as
    # it is; "train": resized to resize x resize, the scale the model was trained at, and
    # the probabilities resized back (measured in the README)
    refine_predict_at: str = "image"
    # open: the fully connected CRF of DeepLab v2 (section III-D) on the between-round
    # predictions, before (b) and (c); needs the extra c2fbench[crf]
    refine_crf: bool = False
    # open: test-time augmentation (scales 0.75/1/1.25, flips) of the between-round predictions
    refine_tta: bool = False
    # not the paper: an image strategy (a) drops keeps its previous round's mask (the paper
    # leaves it out of the next round only); measured in the README
    drop_keeps_previous: bool = False
    refine_grabcut: bool = True
    refine_init: str = "mask"  # open: see trainers/refine.py for the measurement behind it
    # evaluation
    val_root: str | None = None
    val_benchmark: str = "voc-val"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"


def load_recipe(name_or_path: str | Path) -> dict:
    """A shipped recipe by name (trainers/recipes/NAME.json) or a JSON file of options."""
    path = Path(name_or_path)
    if not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.json")))
            raise InputError(f"unknown recipe {name_or_path!r} (shipped: {known})")
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a JSON object of options")
    values.pop("_comment", None)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{path}: unknown options {', '.join(unknown)}")
    return values


def resolve_config(*, recipe: str | None, config: Path | None, overrides: dict) -> TrainConfig:
    """Defaults, then the recipe, then ``--config``, then explicit command-line options."""
    values: dict = {}
    for source in (recipe, config):
        if source:
            values.update(load_recipe(source))
    values.update(overrides)
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg


def _validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.task in TASKS, f"task must be one of {TASKS}"),
        (cfg.rounds >= 1, "rounds must be at least 1"),
        (cfg.epochs >= 1, "epochs must be at least 1"),
        (cfg.batch_size >= 1, "batch_size must be at least 1"),
        (0 < cfg.scale_min <= cfg.scale_max, "need 0 < scale_min <= scale_max"),
        (cfg.crop <= cfg.resize, f"crop {cfg.crop} must not exceed resize {cfg.resize}"),
        (0 <= cfg.min_foreground < cfg.max_foreground <= 1, "need 0 <= min_foreground < max_foreground <= 1"),
        (cfg.coarse_method in ("saliency", "student"), "coarse_method must be saliency or student"),
        (cfg.coarse_method != "student" or cfg.student_weights, "coarse_method student needs student_weights"),
        (cfg.refine_init in ("mask", "rect"), "refine_init must be mask or rect"),
        (cfg.refine_predict_at in ("image", "train"), "refine_predict_at must be image or train"),
        (cfg.optimizer in ("sgd", "adam"), "optimizer must be sgd or adam"),
        (cfg.refine_argmax in ("all", "label"), "refine_argmax must be all or label"),
        (cfg.coarse_box in ("tight", "robust"), "coarse_box must be tight or robust"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(f"bad training configuration: {message}")
