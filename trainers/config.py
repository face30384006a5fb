"""The resolved configuration of a training run, written to ``RUN_DIR/config.json``; that
file passed back as ``--config`` reproduces the run.

One frozen TrainConfig holds a small frozen config per stage of Algorithm 1, each given
only to the stage that reads it: MaskConfig (round-0 masks), OptimConfig (the SGD epochs),
PredictConfig (the between-round predictions) and RefineConfig (strategies (a)-(c),
c2fbench/masks/refine.py). config.json, recipes and ``--config`` files keep one flat
object of options (FLAT_KEYS), as before the stages had configs of their own.

Defaults are the paper's settings (section IV-B) where it gives them; every choice it
leaves open is marked "open" with the reason for the value chosen.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.masks.refine_config import RefineConfig

RECIPES_DIR = Path(__file__).with_name("recipes")


TASKS = ("semantic", "foreground")


@dataclass(frozen=True)
class MaskConfig:
    """The round-0 masks (Algorithm 1, lines 1-2): coarse masks, then GrabCut (whose
    iterations are RefineConfig's: one setting for every GrabCut of a run)."""

    coarse_method: str = "saliency"  # "student" needs student_weights
    saliency: str = "spectral"
    student_weights: str | None = None
    coarse_box: str = "tight"  # the paper: the smallest box
    enhance_initial: bool = True  # GrabCut on the coarse masks (False: train on coarse masks, Table I)
    initial_boxes: bool = False  # round 1 on the filled bounding box of each enhanced mask (Table I)
    # that box: "tight", every foreground pixel's; "robust", the 5th-95th percentile of its
    # rows and columns, so that GrabCut's stray fragments do not stretch it (docs/reproduction.md, Table I)
    enhanced_box: str = "tight"


@dataclass(frozen=True)
class OptimConfig:
    """What the SGD epochs of a round read besides the data (line 4, trainers/train.py): the
    optimiser, its schedule within the round, and how a step runs on CUDA. The number of
    epochs stays beside ``rounds`` in TrainConfig: together they say how long a run trains."""

    optimizer: str = "sgd"  # the paper: SGD; "adam" for short runs from scratch (CPU demo)
    lr: float = 2.5e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head_lr_mult: float = 10.0  # open: 10x on the head, the common DeepLab recipe
    poly_power: float = 0.9  # open: poly decay within each round, the common DeepLab recipe
    # open: where the loss is taken. "input": the logits upsampled to the crop; "output": the
    # labels shrunk to the network's output stride, as DeepLab v2 trains (about 1.3x faster on
    # the CPU demo: no full-size upsampling and softmax; measured in docs/reproduction.md);
    # "input/N": both at the crop's size divided by N (rounded up), the logits upsampled
    # bilinearly and the labels shrunk, so that a small crop gets the label map of a larger one
    loss_resolution: str = "input"
    amp: bool = True  # mixed precision where the device supports it (CUDA)
    channels_last: bool = True  # on CUDA
    # NHWC on the CPU as well: on the demo's network oneDNN predicts 1.46x faster and trains
    # at the same speed (benchmarks/README.md, threads_busy.py); other floats than NCHW
    cpu_channels_last: bool = False

    def nhwc(self, device: "torch.device | str") -> bool:
        """Whether tensors on ``device`` are kept channels-last (NHWC)."""
        kind = device if isinstance(device, str) else device.type
        return self.channels_last if kind == "cuda" else self.cpu_channels_last


@dataclass(frozen=True)
class PredictConfig:
    """How every training image is predicted between rounds (line 5), before the strategies
    read the prediction. All open; measured in docs/reproduction.md."""

    # how (b) reads a 21-class prediction. "all": argmax over every class, then keep the
    # image's own category; "label": argmax over {background, the image's category}, the
    # image-level label being known
    argmax: str = "all"
    # the resolution: "image", the training image as it is; "train", resized to resize x
    # resize, the scale the model was trained at, and the probabilities resized back
    at: str = "image"
    crf: bool = False  # the fully connected CRF of DeepLab v2 (section III-D); extra c2fbench[crf]
    tta: bool = False  # test-time augmentation: scales 0.75/1/1.25, flips


@dataclass(frozen=True)
class TrainConfig:
    """A training run's configuration; config.json holds it flat (:meth:`to_flat`, :meth:`from_flat`)."""

    # task: "semantic" (DeepLab, 21 VOC classes from ImageNet folder labels) or "foreground"
    # (FPN / DFPN, one foreground channel, section III-F)
    task: str = "semantic"
    # model
    arch: str = "deeplab_v2_resnet101"  # the paper: DeepLab v2, ResNet-101
    pretrained_backbone: bool = False  # open: ImageNet weights need the network; off by default here
    # a backbone pretrained as an image classifier on image-level labels (`c2fbench train
    # classifier`): the paper's regime (an ImageNet-classification backbone) reached offline
    backbone_weights: str | None = None
    # how long (paper, IV-B)
    rounds: int = 5
    epochs: int = 2  # open: the paper gives rounds, not epochs per round
    # open: the epochs of rounds 2 and later, which continue from the previous round's
    # weights (None: ``epochs``); fewer keeps later rounds from overfitting their images
    later_epochs: int | None = None
    # open: the learning rate of rounds 2 and later (None: ``lr``); they continue from a
    # trained network, as a fine-tuning run does (the paper's 2.5e-4 is a fine-tuning rate)
    later_lr: float | None = None
    # the data of one round
    batch_size: int = 12
    resize: int = 321  # images resized to 321x321 ...
    crop: int = 256  # ... then randomly cropped to 256x256
    flip: bool = True  # open: horizontal flip, as every DeepLab recipe does
    # open: random scaling of the resized image before the crop, (min, max) factors;
    # DeepLab v2 trains with 0.5-1.5; (1, 1) is the paper's fixed resize
    scale_min: float = 1.0
    scale_max: float = 1.0
    loader_workers: int = 0
    # torch threads: the floats follow the count, so it is fixed here or by --threads, never
    # by the load (c2fbench/threads.py); None: the CPUs this process may use
    threads: int | None = None
    reinit: bool = False  # continue from the previous round's weights (open; --reinit starts fresh)
    seed: int = 0
    # the stages of Algorithm 1
    masks: MaskConfig = MaskConfig()
    optim: OptimConfig = OptimConfig()
    predict: PredictConfig = PredictConfig()
    refine: RefineConfig = RefineConfig()  # open: refine.init, see c2fbench/masks/refine.py
    # not the paper: an image strategy (a) drops keeps its previous round's mask (the paper
    # leaves it out of the next round only); measured in docs/reproduction.md. The loop's, as it reads
    # the previous round's masks
    drop_keeps_previous: bool = False
    # evaluation
    val_root: str | None = None
    val_benchmark: str = "voc-val"

    @classmethod
    def from_flat(cls, values: dict) -> TrainConfig:
        """The configuration of a flat object of options (config.json's keys; defaults for
        the keys it lacks); TypeError for an unknown key, as the constructor's."""
        top, stages = {}, {stage: {} for stage in STAGES}
        for key, value in values.items():
            if key not in FLAT_KEYS:
                raise TypeError(f"TrainConfig has no option {key!r}")
            stage, _, name = FLAT_KEYS[key].rpartition(".")
            (stages[stage] if stage else top)[name] = value
        return cls(**top, **{stage: STAGES[stage](**given) for stage, given in stages.items()})

    def to_flat(self) -> dict:
        """The flat object of options, in config.json's order."""
        return {key: functools.reduce(getattr, path.split("."), self) for key, path in FLAT_KEYS.items()}

    def epochs_of(self, r: int) -> int:
        """The epochs round ``r`` trains."""
        return self.epochs if r == 1 or self.later_epochs is None else self.later_epochs

    def optim_of(self, r: int) -> OptimConfig:
        """The optimiser settings round ``r`` trains with."""
        if r == 1 or self.later_lr is None:
            return self.optim
        return dataclasses.replace(self.optim, lr=self.later_lr)

    def updated(self, **changes) -> TrainConfig:
        """This configuration with ``changes`` (flat keys) applied."""
        return TrainConfig.from_flat({**self.to_flat(), **changes})

    def to_json(self, numerics: dict | None = None) -> str:
        """config.json's text; ``numerics`` (c2fbench.numerics.numerics) is recorded under
        RECORD_KEY, which configures nothing and is left out when the file is read back."""
        values = self.to_flat() if numerics is None else {**self.to_flat(), RECORD_KEY: numerics}
        return json.dumps(values, indent=2) + "\n"


STAGES = {"masks": MaskConfig, "optim": OptimConfig, "predict": PredictConfig, "refine": RefineConfig}

# The flat options of config.json, recipes and --config files, in config.json's order, and
# where each lives in TrainConfig ("stage.field").
FLAT_KEYS = {
    "task": "task", "arch": "arch", "pretrained_backbone": "pretrained_backbone",
    "backbone_weights": "backbone_weights", "rounds": "rounds", "epochs": "epochs", "later_epochs": "later_epochs",
    "later_lr": "later_lr",
    "batch_size": "batch_size",
    "optimizer": "optim.optimizer", "lr": "optim.lr", "momentum": "optim.momentum",
    "weight_decay": "optim.weight_decay",
    "resize": "resize", "crop": "crop", "flip": "flip", "scale_min": "scale_min", "scale_max": "scale_max",
    "head_lr_mult": "optim.head_lr_mult", "poly_power": "optim.poly_power",
    "loss_resolution": "optim.loss_resolution", "reinit": "reinit",
    "loader_workers": "loader_workers", "threads": "threads", "amp": "optim.amp",
    "channels_last": "optim.channels_last", "cpu_channels_last": "optim.cpu_channels_last", "seed": "seed",
    "coarse_method": "masks.coarse_method", "saliency": "masks.saliency", "student_weights": "masks.student_weights",
    "coarse_box": "masks.coarse_box", "enhance_initial": "masks.enhance_initial",
    "initial_boxes": "masks.initial_boxes", "enhanced_box": "masks.enhanced_box", "grabcut_iterations": "refine.iterations",
    "drop_outside": "refine.drop_outside", "min_foreground": "refine.min_foreground",
    "max_foreground": "refine.max_foreground", "keep_own_category": "refine.keep_own_category",
    "refine_argmax": "predict.argmax", "refine_predict_at": "predict.at", "refine_crf": "predict.crf",
    "refine_tta": "predict.tta", "drop_keeps_previous": "drop_keeps_previous", "refine_grabcut": "refine.grabcut",
    "refine_init": "refine.init", "val_root": "val_root", "val_benchmark": "val_benchmark",
}


# config.json's record of what decided the run's floats (c2fbench/numerics.py): written by
# the trainer, ignored when a config.json is read back as a run's or --config's options
RECORD_KEY = "numerics"


def without_record(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != RECORD_KEY}


def flat_types() -> dict[str, str]:
    """Each flat option's type as its field declares it ("int", "str | None", ...)."""
    owners = {"": TrainConfig, **STAGES}
    declared = {stage: {f.name: f.type for f in dataclasses.fields(cls)} for stage, cls in owners.items()}
    return {key: declared[path.rpartition(".")[0]][path.rpartition(".")[2]] for key, path in FLAT_KEYS.items()}


# Fields that name files or folders: stored absolute, so a run's config.json works from
# any folder (relative paths are taken from the current folder, as on the command line).
PATH_FIELDS = ("backbone_weights", "student_weights", "val_root")

# The command that trains each task, the validation benchmark it uses unless told, and what
# else it sets under any recipe (resolve_config's ``defaults``).
COMMAND_OF_TASK = {"semantic": "train deeplab", "foreground": "train dfpn"}
DEFAULT_VAL_BENCHMARK = {"semantic": "voc-val", "foreground": "mit-subset"}
COMMAND_DEFAULTS = {"semantic": {}, "foreground": {"arch": "dfpn_resnet101"}}


def command_defaults(task: str) -> dict:
    """The flat options the command of ``task`` trains with where no recipe, --config or
    option sets them (what its --help shows)."""
    return {**TrainConfig().to_flat(), "task": task, "val_benchmark": DEFAULT_VAL_BENCHMARK[task],
            **COMMAND_DEFAULTS[task]}


def arch_task(arch: str) -> str:
    """The task a model name is built for: FPN / DFPN predict one foreground channel
    (section III-F), every DeepLab the 21 VOC classes (c2fbench.models.MODELS)."""
    return "foreground" if arch.startswith(("fpn_", "dfpn_")) else "semantic"


def shipped_recipes() -> dict[str, dict]:
    """Every recipe in trainers/recipes/, by name, with its ``_comment``."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RECIPES_DIR.glob("*.json"))}


_JSON_NAMES = {str: "a string", bool: "true/false", int: "an integer", float: "a number", type(None): "null",
               list: "an array", dict: "an object"}
_EXPECTED = {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number",
             "str | None": "a string or null", "int | None": "an integer or null",
             "float | None": "a number or null"}


def check_types(values: dict, where: str) -> dict:
    """``values`` with each checked against its TrainConfig field's type (ints accepted as
    floats, and made floats); InputError naming the key, ``where`` and the expected type."""
    types = flat_types()
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise InputError(f"{where}: unknown options {', '.join(unknown)}")
    checked = {}
    for key, value in values.items():
        kind = types[key]
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str | None": value is None or isinstance(value, str),
              "int | None": value is None or (isinstance(value, int) and not isinstance(value, bool)),
              "float | None": value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))}[kind]
        if not ok:
            got = _JSON_NAMES.get(type(value), type(value).__name__)
            raise InputError(f"{where}: {key!r} must be {_EXPECTED[kind]}, got {json.dumps(value)} ({got})")
        number = kind.startswith("float") and value is not None
        if number and not math.isfinite(value):  # JSON's NaN / Infinity, or --lr inf
            raise InputError(f"{where}: {key!r} must be a finite number, got {json.dumps(value)}")
        checked[key] = float(value) if number else value
    return checked


def absolute_paths(values: dict) -> dict:
    """``values`` with every path field made absolute (from the current folder)."""
    return {k: os.path.abspath(os.path.expanduser(v)) if k in PATH_FIELDS and isinstance(v, str) else v
            for k, v in values.items()}


_LOSS_RESOLUTION = re.compile(r"input|output|input/[1-9][0-9]{0,3}")


def loss_divisor(resolution: str) -> int | None:
    """What the crop's size is divided by where the loss is taken (``loss_resolution``): 1 for
    ``input``, N for ``input/N``, None for ``output`` (the network's own output stride).

    >>> loss_divisor("input/3"), loss_divisor("input"), loss_divisor("output")
    (3, 1, None)
    """
    if resolution == "output":
        return None
    return int(resolution.partition("/")[2] or 1)


def validate(cfg: TrainConfig, *, origin: dict | None = None) -> None:
    """Ranges and choices of a configuration (types: :func:`check_types`); the error names
    where the value came from (``origin``: key -> source, as trainers.resolve.resolve_config builds)."""
    from c2fbench.eval.benchmarks import BENCHMARKS
    from c2fbench.masks.saliency import SALIENCY_METHODS

    masks, optim, predict, refine = cfg.masks, cfg.optim, cfg.predict, cfg.refine
    checks = [
        ("task", cfg.task in TASKS, f"task must be one of {TASKS}"),
        ("arch", arch_task(cfg.arch) == cfg.task, f"arch {cfg.arch} is a {arch_task(cfg.arch)} model, task is {cfg.task}"),
        ("rounds", cfg.rounds >= 1, "rounds must be at least 1"),
        ("epochs", cfg.epochs >= 1, "epochs must be at least 1"),
        ("later_epochs", cfg.later_epochs is None or cfg.later_epochs >= 1, "later_epochs must be at least 1"),
        ("later_lr", cfg.later_lr is None or cfg.later_lr > 0, "later_lr must be above 0"),
        ("batch_size", cfg.batch_size >= 1, "batch_size must be at least 1"),
        ("lr", optim.lr > 0, "lr must be above 0"),
        ("momentum", 0 <= optim.momentum < 1, "momentum must be in [0, 1)"),
        ("weight_decay", optim.weight_decay >= 0, "weight_decay must be 0 or more"),
        ("head_lr_mult", optim.head_lr_mult > 0, "head_lr_mult must be above 0"),
        ("poly_power", optim.poly_power >= 0, "poly_power must be 0 or more"),
        ("resize", cfg.resize >= 8 and cfg.crop >= 8, "resize and crop must be at least 8"),
        ("loader_workers", cfg.loader_workers >= 0, "loader_workers must be 0 or more"),
        ("threads", cfg.threads is None or 1 <= cfg.threads <= 1024, "threads must be null or 1..1024"),
        ("scale_min", 0 < cfg.scale_min <= cfg.scale_max, "need 0 < scale_min <= scale_max"),
        ("crop", cfg.crop <= cfg.resize, f"crop {cfg.crop} must not exceed resize {cfg.resize}"),
        ("min_foreground", 0 <= refine.min_foreground < refine.max_foreground <= 1,
         "need 0 <= min_foreground < max_foreground <= 1"),
        ("grabcut_iterations", refine.iterations >= 1, "grabcut_iterations must be at least 1"),
        ("saliency", masks.saliency in SALIENCY_METHODS, f"saliency must be one of {', '.join(SALIENCY_METHODS)}"),
        ("coarse_method", masks.coarse_method in ("saliency", "student"), "coarse_method must be saliency or student"),
        ("coarse_method", masks.coarse_method != "student" or masks.student_weights,
         "coarse_method student needs student_weights"),
        ("refine_init", refine.init in ("mask", "rect"), "refine_init must be mask or rect"),
        ("refine_predict_at", predict.at in ("image", "train"), "refine_predict_at must be image or train"),
        ("optimizer", optim.optimizer in ("sgd", "adam"), "optimizer must be sgd or adam"),
        ("loss_resolution", _LOSS_RESOLUTION.fullmatch(str(optim.loss_resolution)) is not None,
         "loss_resolution must be input, output or input/N (N from 1 to 9999)"),
        ("refine_argmax", predict.argmax in ("all", "label"), "refine_argmax must be all or label"),
        ("coarse_box", masks.coarse_box in ("tight", "robust"), "coarse_box must be tight or robust"),
        ("enhanced_box", masks.enhanced_box in ("tight", "robust"), "enhanced_box must be tight or robust"),
        ("val_benchmark", cfg.val_benchmark in BENCHMARKS, f"val_benchmark must be one of {', '.join(BENCHMARKS)}"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise InputError(f"{(origin or {}).get(key, 'bad training configuration')}: {message}")
