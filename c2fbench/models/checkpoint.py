"""The c2fbench checkpoint: a dict of tensors and plain values, read without running code.

::

    {"format": "c2fbench-checkpoint", "version": 1,
     "arch": "deeplab_v2_resnet101",                 a key of c2fbench.models.MODELS
     "kwargs": {"num_classes": 21, "pretrained_backbone": False, "rates": (6, 12, 18, 24)},
     "classes": ["background", "aeroplane", ...],    names in index order, len == num_classes
     "normalization": {"mean": [...], "std": [...]}, RGB in [0, 1], ImageNet by default
     "state_dict": {...}, "c2fbench_version": "0.1.0",
     ...extra}                                       round, epoch, optimiser state, RNG states

It is always read with ``torch.load(..., weights_only=True)``, which refuses any pickled
object but tensors and plain containers, so opening a checkpoint never runs code. The
stored ``pretrained_backbone`` is always False: rebuilding a model never downloads.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from c2fbench.console import plural
from c2fbench.errors import InputError
from c2fbench.models.metadata import check_class_names, check_expected_classes, check_normalization
from c2fbench.models.deeplab import IMAGENET_MEAN, IMAGENET_STD

FORMAT = "c2fbench-checkpoint"
VERSION = 1
_RESERVED = ("format", "version", "arch", "kwargs", "classes", "normalization", "state_dict", "c2fbench_version")
_PLAIN_ATOMS = (type(None), bool, int, float, str, torch.Tensor, torch.dtype, torch.device)
_EXPECTED = "expected a c2fbench checkpoint (a torch.save dict written by c2fbench.models.save_checkpoint)"
_ARCH_HINT = ("to use weights alone, name their network: --arch torchvision:NAME or --arch module.path:function "
              "(eval, predict, deploy export; see docs/models-from-elsewhere.md)")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, arch: str, kwargs: dict, classes: list[str],
                    normalization: dict | None = None, extra: dict | None = None) -> None:
    """Write ``model`` and what is needed to rebuild it to ``path``, atomically.

    ``kwargs`` are the builder's arguments (``num_classes`` is filled in from the model when
    absent); ``extra`` holds tensors and plain values only (ints, floats, strings, lists,
    dicts: an optimiser's ``state_dict()``, ``torch.get_rng_state()``, ...), stored at the top
    level. Bad arguments are programming errors and raise ValueError / TypeError.
    """
    from c2fbench import __version__
    from c2fbench.atomic import atomic_open
    from c2fbench.models import MODELS  # the package imports this module, so look it up late

    if arch not in MODELS:
        raise ValueError(f"unknown arch {arch!r}; known: {', '.join(MODELS)}")
    kwargs = dict(kwargs)
    _check_plain(kwargs, "kwargs")
    if "pretrained_backbone" in inspect.signature(MODELS[arch]).parameters:
        kwargs["pretrained_backbone"] = False  # the weights are in the state dict; never download on load
    if "num_classes" not in kwargs and hasattr(model, "num_classes"):
        kwargs["num_classes"] = int(model.num_classes)
    classes = [str(c) for c in classes]
    try:
        check_class_names(classes, where="")
    except InputError as e:  # a programming error here, as every bad argument of this function
        raise ValueError(str(e)) from None
    if "num_classes" in kwargs and len(classes) != kwargs["num_classes"]:
        raise ValueError(f"{len(classes)} class names for a model with num_classes={kwargs['num_classes']}")
    normalization = check_normalization(normalization or {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}, where="",
                                        error=ValueError)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra must not set the reserved keys {clash}")
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT, "version": VERSION, "arch": arch, "kwargs": kwargs, "classes": classes,
        "normalization": normalization,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "c2fbench_version": __version__,
        **extra,
    }
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    expect_classes: list[str] | None = None) -> tuple[nn.Module, dict]:
    """(model in eval mode, metadata) of a checkpoint from :func:`save_checkpoint`.

    The metadata is the checkpoint without ``state_dict``. With ``expect_classes``, a
    checkpoint for other classes is refused. Any file that is missing, not a torch file,
    holds pickled objects, is not a c2fbench checkpoint, or whose weights do not fit its
    architecture raises :class:`InputError` naming it.

    Everything is checked before a real layer is built: the metadata (class names,
    normalisation, architecture), ``expect_classes``, then the weights' shapes against the
    model built on torch's ``meta`` device (shapes only, no memory). So a file that names
    50,000 classes beside a small state dict is refused in milliseconds, and the model that
    is then built is no bigger than the weights already read.
    """
    path = Path(path)
    payload = _read(path, map_location=map_location)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    if expect_classes is not None:
        check_expected_classes(meta["classes"], expect_classes, where=f"{path}: ", what="checkpoint")
    kwargs = dict(meta["kwargs"])
    if "pretrained_backbone" in kwargs:
        kwargs["pretrained_backbone"] = False  # even in a hand-made file: loading never downloads
    what = f"{meta['arch']}({kwargs})"
    with torch.device("meta"):
        skeleton = _build(path, meta["arch"], kwargs)
    num_classes = getattr(skeleton, "num_classes", None)
    if num_classes is not None and num_classes != len(meta["classes"]):
        raise InputError(f"{path}: checkpoint names {plural(len(meta['classes']), 'class')} but {what} has "
                         f"{num_classes} outputs")
    _check_state(path, skeleton, payload["state_dict"], what)
    del skeleton
    model = _build(path, meta["arch"], kwargs)
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(map_location).eval(), meta


def _build(path: Path, arch: str, kwargs: dict) -> nn.Module:
    from c2fbench.models import MODELS, build_model  # the package imports this module, so look it up late

    if arch not in MODELS:
        raise InputError(f"{path}: unknown model architecture {arch!r}; known: {', '.join(MODELS)}")
    try:
        return build_model(arch, **kwargs)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except (ValueError, IndexError, RuntimeError) as e:  # a builder refusing its arguments (rates, sizes, ...)
        raise InputError(f"{path}: bad arguments for model {arch!r}: {e}") from None


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The metadata of a checkpoint (everything but ``state_dict``), without building a model.

    The file is memory-mapped, so the weights are not read. Errors as :func:`load_checkpoint`.
    """
    payload = _read(Path(path), map_location="cpu")
    return {k: v for k, v in payload.items() if k != "state_dict"}


def _read(path: Path, *, map_location) -> dict:
    """The checked payload. The file is memory-mapped, so its tensors are read only when used:
    a file naming 50,000 classes beside gigabytes of weights is refused without reading them
    (reading it whole took 1.3 GB for a 600 MB file). A file in torch's legacy, pre-zip
    format cannot be mapped and is read whole."""
    from c2fbench.files import MAX_MODEL_BYTES, check_regular_file

    if not path.exists():
        raise InputError(f"{path}: checkpoint not found ({_EXPECTED})")
    check_regular_file(path, max_bytes=MAX_MODEL_BYTES, what="checkpoint")  # a FIFO would hang torch.load
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says it all
            warnings.simplefilter("ignore")
            try:
                payload = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap" not in str(e):
                    raise
                payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip, pickle and weights-only errors alike mean "not our file"
        raise InputError(f"{path}: {why_unreadable(e)}; {_EXPECTED}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a c2fbench checkpoint ({_describe(payload)}); "
                         f"{_ARCH_HINT if _holds_weights(payload) else _EXPECTED}")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise InputError(f"{path}: checkpoint format version {version!r}; this c2fbench reads versions up to {VERSION}")
    for key, kind in (("arch", str), ("kwargs", dict), ("classes", list), ("state_dict", dict)):
        if not isinstance(payload.get(key), kind):
            raise InputError(f"{path}: checkpoint field {key!r} is missing or not a {kind.__name__}")
    bad_keys = [k for k in payload["kwargs"] if not isinstance(k, str)]
    if bad_keys:
        raise InputError(f"{path}: checkpoint field 'kwargs' has the key {bad_keys[0]!r}; expected the model "
                         f"builder's argument names (strings)")
    bad_weights = [k for k, v in payload["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad_weights:
        k = bad_weights[0]
        raise InputError(f"{path}: checkpoint field 'state_dict': entry {str(k)[:80]!r} is a "
                         f"{type(payload['state_dict'][k]).__name__}; expected tensors only")
    check_class_names(payload["classes"], where=f"{path}: checkpoint field 'classes': ")
    num_classes = payload["kwargs"].get("num_classes")
    if num_classes is not None and num_classes != len(payload["classes"]):
        raise InputError(f"{path}: checkpoint names {plural(len(payload['classes']), 'class')} but its model has "
                         f"num_classes={num_classes!r}")
    payload["normalization"] = check_normalization(payload.get("normalization"), where=f"{path}: ")
    return payload


def why_unreadable(e: Exception) -> str:
    """Why torch.load (weights_only) refused a file, in words: a refused pickled object, a
    truncated file, or not a torch file at all."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    refused = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)", text)
    if refused:
        return (f"it holds a pickled object ({refused.group(1)}) that weights-only loading refuses, "
                "so it was not opened (opening a checkpoint never runs code)")
    if isinstance(e, EOFError) or not text.strip():
        return "empty or truncated file"
    if "Weights only load failed" in text:
        return "not a torch file, or corrupt"
    return f"not a torch file, or corrupt ({text.strip().splitlines()[0][:160]})"


def _holds_weights(payload) -> bool:
    """A bare state dict, or a dict holding one under 'state_dict' or 'model' (weights saved
    without their network, which ``--arch`` names)."""
    def state(value) -> bool:
        return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())
    return isinstance(payload, dict) and any(state(v) for v in (payload, payload.get("state_dict"),
                                                                payload.get("model")))


def _describe(payload) -> str:
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not a dict"
    if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return "it looks like a bare state dict, without the architecture and class names"
    keys = ", ".join(repr(k) for k in list(payload)[:6])
    return f"no 'format': {FORMAT!r} entry; keys {keys}{', ...' if len(payload) > 6 else ''}"


def _check_state(path: Path, model: nn.Module, state: dict, what: str) -> None:
    """InputError summarising missing/unexpected keys and shape mismatches, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in expected
                  if k in state and (not isinstance(state[k], torch.Tensor) or state[k].shape != expected[k].shape)]
    problems = [f"{len(keys)} {label} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
                for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("shape mismatches, file vs model", mismatched)) if keys]
    if problems:
        hint = ""
        if unexpected and all(k.startswith("module.") for k in unexpected):
            hint = "; saved from a DistributedDataParallel wrapper? save model.module instead"
        raise InputError(f"{path}: weights do not fit {what}: {'; '.join(problems)}{hint}")


def _check_plain(value, where: str) -> None:
    """TypeError naming the first entry that ``torch.load(weights_only=True)`` would refuse.

    Plain means tensors, None, bools, numbers, strings, dtypes and devices, in lists, tuples
    and dicts with str or int keys: an optimiser's ``state_dict()``, ``torch.get_rng_state()``,
    ``random.getstate()`` and a numpy ``Generator``'s ``bit_generator.state`` all qualify.
    """
    if isinstance(value, _PLAIN_ATOMS):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is not a str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__name__}; a checkpoint holds only "
                    "tensors and plain values (convert numpy arrays with torch.from_numpy)")
