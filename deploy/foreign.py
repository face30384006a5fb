"""Models that c2fbench did not write: what the command line says about them.

An ONNX file exported elsewhere has no c2fbench metadata (class names, normalisation), and
a torchvision segmentation model's state dict has neither. ``--classes voc|coco|mit`` and
``--mean R,G,B --std R,G,B`` (or ``--no-normalize``) give them as a :class:`MetadataOverride`
that :func:`deploy.runtimes.load_runtime` takes. ``deploy tag`` writes the same into an ONNX
file (:func:`deploy.tag.tag_onnx`), so that later runs need no flags.

A file that carries metadata and is given flags too: the flags must agree with it, or the
run is refused naming both (flags never silently replace what the file says about itself).

Normalisation is on c2fbench's 0-1 scale: images are divided by 255 first, then
``(x - mean) / std``, so ImageNet's is ``--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from c2fbench.errors import InputError

CLASS_SETS = ("voc", "coco", "mit")
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # torchvision's, 0-1 scale
NO_NORMALIZATION = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # the 0-1 image as it is


def class_names(name: str, *, channels: int | None = None) -> list[str]:
    """The class names of ``--classes NAME``: VOC's 21, COCO's 81 (background and the 80
    categories in id order), or MIT's foreground: ``["foreground"]`` for a one-channel output
    (``channels`` 1), else ``["background", "foreground"]``."""
    if name == "voc":
        from c2fbench.data.voc import VOC_CLASSES

        return list(VOC_CLASSES)
    if name == "coco":
        from c2fbench.data.coco import COCO_CLASSES

        return list(COCO_CLASSES)
    if name == "mit":
        return ["foreground"] if channels == 1 else ["background", "foreground"]
    raise InputError(f"--classes {name!r}: expected one of {', '.join(CLASS_SETS)}")


def parse_rgb(text: str, *, option: str) -> list[float]:
    """``"0.485,0.456,0.406"`` -> three finite floats; InputError naming ``option`` otherwise."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise InputError(f"{option} {text!r}: expected three finite numbers R,G,B, e.g. 0.485,0.456,0.406")
    return values


def parse_normalization(mean: str | None, std: str | None, *, no_normalize: bool = False) -> dict | None:
    """The normalisation of ``--mean``, ``--std`` (both or neither) or ``--no-normalize``, on
    the 0-1 scale: means in [0, 1] and stds in (0, 1] (values on the 0-255 scale are refused
    with the hint to divide by 255); None when none is given."""
    if no_normalize:
        if mean is not None or std is not None:
            raise InputError("--no-normalize and --mean/--std exclude each other")
        return dict(NO_NORMALIZATION)
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise InputError(f"--mean and --std go together (got only {'--mean' if std is None else '--std'})")
    from c2fbench.models.metadata import check_normalization  # c2fbench.models imports torch

    norm = check_normalization({"mean": parse_rgb(mean, option="--mean"), "std": parse_rgb(std, option="--std")},
                               where="--mean/--std: ")
    if not all(0 <= v <= 1 for v in norm["mean"]) or not all(v <= 1 for v in norm["std"]):
        raise InputError(f"--mean {mean} --std {std}: c2fbench scales images to 0-1 before normalising, so means "
                         "lie in [0, 1] and stds in (0, 1]; divide 0-255 values by 255 (ImageNet: "
                         "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)")
    return norm


@dataclass(frozen=True)
class MetadataOverride:
    """What the command line says about a model: ``classes`` (a :data:`CLASS_SETS` name) and
    ``normalization`` (``{"mean", "std"}``, 0-1 scale), each None when not given."""

    classes: str | None = None
    normalization: dict | None = None

    @classmethod
    def from_options(cls, classes: str | None, mean: str | None, std: str | None,
                     no_normalize: bool = False) -> MetadataOverride | None:
        """The override of the ``--classes --mean --std --no-normalize`` options, or None
        when none is given."""
        norm = parse_normalization(mean, std, no_normalize=no_normalize)
        if classes is not None:
            class_names(classes)  # an unknown name is refused here, before any model loads
        return None if classes is None and norm is None else cls(classes=classes, normalization=norm)

    def describe(self) -> str:
        return " ".join(filter(None, [f"--classes {self.classes}" if self.classes else "",
                                      _norm_flags(self.normalization) if self.normalization else ""]))

    def apply(self, meta: dict | None, *, path: Path, channels: int | None, hint: str | None = None) -> dict:
        """``{"classes", "normalization"}`` for a model file whose own metadata is ``meta``
        (None: it has none) and whose output declares ``channels`` (None: unknown).

        Without metadata both must be given here. With metadata, what is given must agree
        with it: InputError naming both otherwise, ending in ``hint`` (default
        :data:`RETAG_HINT`: drop the flags, or re-tag the file)."""
        classes = class_names(self.classes, channels=channels) if self.classes else None
        if meta is None:
            missing = [flag for flag, value in (("--classes", classes), ("--mean/--std", self.normalization))
                       if value is None]
            if missing:
                raise InputError(f"{path}: the file has no c2fbench metadata and {' and '.join(missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} not given; {FLAGS_HINT}")
            return {"classes": classes, "normalization": self.normalization}
        if classes is not None and classes != meta["classes"]:
            raise InputError(f"{path}: --classes {self.classes} ({_names(classes)}) disagrees with the file's "
                             f"metadata ({_names(meta['classes'])}); {hint or 'drop the flag, or ' + RETAG_HINT}")
        if self.normalization is not None and not _same_norm(self.normalization, meta["normalization"]):
            raise InputError(f"{path}: {_norm_flags(self.normalization)} disagrees with the file's metadata "
                             f"({_norm_flags(meta['normalization'])}); {hint or 'drop the flags, or ' + RETAG_HINT}")
        return {"classes": meta["classes"], "normalization": meta["normalization"]}


RETAG_HINT = "re-tag the file with `c2fbench deploy tag --replace`"
FLAGS_HINT = ("give --classes voc|coco|mit and --mean R,G,B --std R,G,B (0-1 scale) or --no-normalize, or write "
              "them into the file once with `c2fbench deploy tag`")


def _names(classes: list[str]) -> str:
    return f"{len(classes)} classes: {', '.join(classes[:3])}{', ...' if len(classes) > 3 else ''}"


def _norm_flags(norm: dict) -> str:
    def rgb(values):
        return ",".join(f"{v:g}" for v in values)
    return f"--mean {rgb(norm['mean'])} --std {rgb(norm['std'])}"


def _same_norm(a: dict, b: dict) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for key in ("mean", "std") for x, y in zip(a[key], b[key]))
