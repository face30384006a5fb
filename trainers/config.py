"""The resolved configuration of a training run: one frozen dataclass, written to
``RUN_DIR/config.json``; that file passed back as ``--config`` reproduces the run.

Defaults are the paper's settings (section IV-B) where it gives them; every choice it
leaves open is marked "open" with the reason for the value chosen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
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
    refine_init: str = "mask"  # open: see c2fbench/masks/refine.py for the measurement behind it
    # evaluation
    val_root: str | None = None
    val_benchmark: str = "voc-val"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"


# Fields that name files or folders: stored absolute, so a run's config.json works from
# any folder (relative paths are taken from the current folder, as on the command line).
PATH_FIELDS = ("backbone_weights", "student_weights", "val_root")

# The command that trains each task, and the validation benchmark it uses unless told.
COMMAND_OF_TASK = {"semantic": "train deeplab", "foreground": "train dfpn"}
DEFAULT_VAL_BENCHMARK = {"semantic": "voc-val", "foreground": "mit-subset"}


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
             "str | None": "a string or null"}


def check_types(values: dict, where: str) -> dict:
    """``values`` with each checked against its TrainConfig field's type (ints accepted as
    floats, and made floats); InputError naming the key, ``where`` and the expected type."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise InputError(f"{where}: unknown options {', '.join(unknown)}")
    checked = {}
    for key, value in values.items():
        kind = types[key]
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str | None": value is None or isinstance(value, str)}[kind]
        if not ok:
            got = _JSON_NAMES.get(type(value), type(value).__name__)
            raise InputError(f"{where}: {key!r} must be {_EXPECTED[kind]}, got {json.dumps(value)} ({got})")
        if kind == "float" and not math.isfinite(value):  # JSON's NaN / Infinity, or --lr inf
            raise InputError(f"{where}: {key!r} must be a finite number, got {json.dumps(value)}")
        checked[key] = float(value) if kind == "float" else value
    return checked


def absolute_paths(values: dict) -> dict:
    """``values`` with every path field made absolute (from the current folder)."""
    return {k: os.path.abspath(os.path.expanduser(v)) if k in PATH_FIELDS and isinstance(v, str) else v
            for k, v in values.items()}


def read_json_object(path: Path, what: str) -> dict:
    """A JSON object from ``path``; InputError naming the file when it is missing or not one
    (a FIFO or a link to a device is refused unopened)."""
    from c2fbench.data.files import check_regular_file

    check_regular_file(path, max_bytes=1 << 20, what=what)
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is no error
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the {what} ({e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise InputError(f"{path}: expected a JSON object of options")
    return values


def load_recipe(name_or_path: str | Path, *, file: bool = False) -> dict:
    """A shipped recipe by name (trainers/recipes/NAME.json) or a JSON file of options (always
    a file with ``file``, as ``--config`` is, whatever its name)."""
    path = Path(name_or_path)
    if not file and not path.suffix:
        path = RECIPES_DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = ", ".join(shipped_recipes())
            raise InputError(f"unknown recipe {name_or_path!r} (shipped: {known})")
    values = read_json_object(path, "config file")
    values.pop("_comment", None)
    return check_types(values, str(path))


def resolve_config(*, recipe: str | None, config: Path | None, overrides: dict, defaults: dict | None = None,
                   task: str | None = None) -> TrainConfig:
    """TrainConfig's defaults, then ``defaults`` (a command's own), the recipe, ``--config``,
    then explicit command-line options ``overrides``.

    With ``task`` (the command's), a source that sets another task, or an architecture of
    another task, is an InputError naming where it came from.
    """
    values, origin = {}, {}
    layers = [("this command's defaults", defaults or {}),
              (f"recipe {recipe}", load_recipe(recipe) if recipe else {}),
              (str(config), load_recipe(config, file=True) if config else {}),
              ("the command line", check_types(overrides, "command-line options"))]
    for name, layer in layers:
        values.update(layer)
        origin.update(dict.fromkeys(layer, name))
    if task is not None:
        check_task(values, origin, task)
        values["task"] = task
    values.setdefault("val_benchmark", DEFAULT_VAL_BENCHMARK.get(values.get("task", "semantic"), "voc-val"))
    cfg = TrainConfig(**absolute_paths(values))
    validate(cfg, origin=origin)
    return cfg


def check_task(values: dict, origin: dict, task: str) -> None:
    """Refuse a recipe, config or option of the other task (``task``: the command's)."""
    def others(t: str) -> str:
        names = [n for n, r in shipped_recipes().items()
                 if r.get("task", "semantic") == t and arch_task(r.get("arch", "")) == t]
        return f"{t} recipes: {', '.join(names)}"

    command = COMMAND_OF_TASK[task]
    given = values.get("task", task)
    if given != task:
        if given not in COMMAND_OF_TASK:
            raise InputError(f"{origin['task']}: task must be one of {', '.join(TASKS)}, got {given!r}")
        raise InputError(f"{origin['task']} sets task {given} (for `c2fbench {COMMAND_OF_TASK[given]}`); "
                         f"`c2fbench {command}` trains {task} models ({others(task)})")
    arch = values.get("arch", TrainConfig.arch)
    if arch_task(arch) != task:
        where = origin.get("arch", "the default")
        raise InputError(f"arch {arch} (from {where}) is a {arch_task(arch)} model (for `c2fbench "
                         f"{COMMAND_OF_TASK[arch_task(arch)]}`); `c2fbench {command}` trains {task} models "
                         f"({'fpn_*, dfpn_*' if task == 'foreground' else 'deeplab_*'}; {others(task)})")


def validate(cfg: TrainConfig, *, origin: dict | None = None) -> None:
    """Ranges and choices of a configuration (types: :func:`check_types`); the error names
    where the value came from (``origin``: key -> source, as :func:`resolve_config` builds)."""
    from c2fbench.eval.benchmarks import BENCHMARKS
    from c2fbench.masks.saliency import SALIENCY_METHODS

    checks = [
        ("task", cfg.task in TASKS, f"task must be one of {TASKS}"),
        ("arch", arch_task(cfg.arch) == cfg.task, f"arch {cfg.arch} is a {arch_task(cfg.arch)} model, task is {cfg.task}"),
        ("rounds", cfg.rounds >= 1, "rounds must be at least 1"),
        ("epochs", cfg.epochs >= 1, "epochs must be at least 1"),
        ("batch_size", cfg.batch_size >= 1, "batch_size must be at least 1"),
        ("lr", cfg.lr > 0, "lr must be above 0"),
        ("momentum", 0 <= cfg.momentum < 1, "momentum must be in [0, 1)"),
        ("weight_decay", cfg.weight_decay >= 0, "weight_decay must be 0 or more"),
        ("head_lr_mult", cfg.head_lr_mult > 0, "head_lr_mult must be above 0"),
        ("poly_power", cfg.poly_power >= 0, "poly_power must be 0 or more"),
        ("resize", cfg.resize >= 8 and cfg.crop >= 8, "resize and crop must be at least 8"),
        ("loader_workers", cfg.loader_workers >= 0, "loader_workers must be 0 or more"),
        ("scale_min", 0 < cfg.scale_min <= cfg.scale_max, "need 0 < scale_min <= scale_max"),
        ("crop", cfg.crop <= cfg.resize, f"crop {cfg.crop} must not exceed resize {cfg.resize}"),
        ("min_foreground", 0 <= cfg.min_foreground < cfg.max_foreground <= 1,
         "need 0 <= min_foreground < max_foreground <= 1"),
        ("grabcut_iterations", cfg.grabcut_iterations >= 1, "grabcut_iterations must be at least 1"),
        ("saliency", cfg.saliency in SALIENCY_METHODS, f"saliency must be one of {', '.join(SALIENCY_METHODS)}"),
        ("coarse_method", cfg.coarse_method in ("saliency", "student"), "coarse_method must be saliency or student"),
        ("coarse_method", cfg.coarse_method != "student" or cfg.student_weights,
         "coarse_method student needs student_weights"),
        ("refine_init", cfg.refine_init in ("mask", "rect"), "refine_init must be mask or rect"),
        ("refine_predict_at", cfg.refine_predict_at in ("image", "train"), "refine_predict_at must be image or train"),
        ("optimizer", cfg.optimizer in ("sgd", "adam"), "optimizer must be sgd or adam"),
        ("refine_argmax", cfg.refine_argmax in ("all", "label"), "refine_argmax must be all or label"),
        ("coarse_box", cfg.coarse_box in ("tight", "robust"), "coarse_box must be tight or robust"),
        ("val_benchmark", cfg.val_benchmark in BENCHMARKS, f"val_benchmark must be one of {', '.join(BENCHMARKS)}"),
    ]
    for key, ok, message in checks:
        if not ok:
            raise InputError(f"{(origin or {}).get(key, 'bad training configuration')}: {message}")
