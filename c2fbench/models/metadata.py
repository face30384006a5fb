"""A model's metadata as every model file carries it (checkpoint, ONNX, engine sidecar):
its class names and input normalisation, checked the same way wherever they are read."""

from __future__ import annotations

import numpy as np

from c2fbench.console import plural
from c2fbench.errors import InputError

# The most classes a model may name. Segmentation label sets run to a few hundred (VOC 21,
# COCO-stuff 182, ADE20K 150); a checkpoint or ONNX file naming more is refused before a
# layer is built (a 50,000-class DeepLab head alone is 7 GB).
MAX_CLASSES = 1000


def check_class_names(classes, *, where: str) -> list[str]:
    """``classes`` as a list of 1 to :data:`MAX_CLASSES` distinct, non-empty strings;
    otherwise InputError starting with ``where`` (the file, and the field it came from)."""
    if not isinstance(classes, (list, tuple)) or not classes:
        raise InputError(f"{where}expected a non-empty list of class names, got {_short(classes)}")
    if len(classes) > MAX_CLASSES:
        raise InputError(f"{where}{len(classes)} class names, more than the {MAX_CLASSES} a segmentation "
                         "model is taken to have (a damaged or hand-made file?)")
    bad = next((i for i, c in enumerate(classes) if not isinstance(c, str) or not c.strip()), None)
    if bad is not None:
        raise InputError(f"{where}class {bad} is {_short(classes[bad])}; class names are non-empty strings")
    seen = set()
    for c in classes:
        if c in seen:
            raise InputError(f"{where}class name {c!r} appears twice; class names must be distinct")
        seen.add(c)
    return list(classes)


def check_expected_classes(classes: list[str], expected, *, where: str, what: str = "model",
                           by: str = "expected") -> None:
    """InputError unless ``classes`` are ``expected`` (same names, same order), naming the
    count or the first class that differs ("<what> class 2 is 'dog', <by> 'cow'")."""
    expected = list(expected)
    if len(classes) != len(expected):
        raise InputError(f"{where}{what} has {plural(len(classes), 'class')}, {by} {len(expected)} "
                         f"({', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''})")
    for i, (got, want) in enumerate(zip(classes, expected)):
        if got != want:
            raise InputError(f"{where}{what} class {i} is {got!r}, {by} {want!r} "
                             f"(both have {plural(len(expected), 'class')}, in a different order or naming)")


def check_normalization(norm, *, where: str, error: type[Exception] = InputError) -> dict:
    """``{"mean": [r, g, b], "std": [r, g, b]}`` as floats: three finite numbers each, std
    above zero (a zero std divides by zero in :func:`normalise`); otherwise ``error``."""
    expected = "{'mean': [r, g, b], 'std': [r, g, b]}"
    if not isinstance(norm, dict):
        raise error(f"{where}normalization must be {expected}, got {_short(norm)}")
    for key in ("mean", "std"):
        values = norm.get(key)
        if values is None:
            raise error(f"{where}normalization lacks {key!r} (expected {expected})")
        if (not isinstance(values, (list, tuple)) or len(values) != 3
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise error(f"{where}normalization {key} must be 3 numbers (r, g, b), got {_short(values)}")
        if not all(np.isfinite(v) for v in values):
            raise error(f"{where}normalization {key} must be finite, got {list(values)}")
    if not all(v > 0 for v in norm["std"]):
        raise error(f"{where}normalization std must be above 0 (it divides), got {list(norm['std'])}")
    # normalise() works in float32 on pixels scaled to 0-1: 1e-50 is above 0 but is 0 there
    mean, std = np.float32(norm["mean"]), np.float32(norm["std"])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        extremes = np.stack([(np.float32(0) - mean) / std, (np.float32(1) - mean) / std])
    if not (np.all(std > 0) and np.all(np.isfinite(mean)) and np.all(np.isfinite(extremes))):
        raise error(f"{where}normalization mean {list(norm['mean'])} and std {list(norm['std'])} overflow float32, "
                    f"the type images are normalised in (std at least {np.finfo(np.float32).tiny:.3g}, "
                    f"and (pixel - mean) / std within +-{np.finfo(np.float32).max:.3g} for pixels in 0-1)")
    return {"mean": [float(v) for v in norm["mean"]], "std": [float(v) for v in norm["std"]]}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
