"""Field checks for every file a report reads: each value has the type, size and range that
the contracts in DESIGN.md give it, or :class:`~c2fbench.errors.InputError` names the file
and the key.

Python's ``json`` accepts ``NaN``, ``Infinity`` and integers of any length, and a file that
parses can still hold a string where a list belongs. None of those is a score: scores are
finite percentages, counts are integers that fit an int64 (what eval's matrices hold),
lists have the length and element type the contract gives them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from c2fbench.data.mit import MIT_CLASSES
from c2fbench.errors import InputError

MAX_COUNT = 2**63 - 1  # numpy int64, the dtype of eval's confusion matrices
MAX_CLASSES = 1000
MAX_TEXT = 4096  # characters in a name, path or version string
MAX_ENTRIES = 100_000  # latency entries, losses per round
_MISSING = object()


@dataclass(frozen=True)
class Where:
    """A file and the key path inside it (``"line 3 val."``), for messages."""

    path: Path
    prefix: str = ""

    def inside(self, key) -> Where:
        return Where(self.path, f"{self.prefix}{key}.")

    def fail(self, key, message: str) -> NoReturn:
        raise InputError(f"{self.path}: {self.prefix}{key} {message}")

    def bad(self, key, value, expected: str) -> NoReturn:
        self.fail(key, f"= {_show(value)} is not {expected}")


def _show(value) -> str:
    """A short repr: a 400-digit integer or a 1 MB string must not flood the one-line message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def field(data: dict, key: str, where: Where, *, required: bool = True):
    if key in data:
        return data[key]
    if required:
        where.fail(key, "is missing")
    return _MISSING


def real(value, where: Where, key, *, low: float | None = None, high: float | None = None,
         nullable: bool = False) -> float | None:
    """A finite number in [low, high] (None where ``nullable``)."""
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        where.bad(key, value, "a number")
    if isinstance(value, int) and value.bit_length() > 64 or not math.isfinite(value):
        where.bad(key, value, "a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        where.bad(key, value, f"a number {span}")
    return float(value)


def percent(value, where: Where, key, *, nullable: bool = False) -> float | None:
    return real(value, where, key, low=0, high=100, nullable=nullable)


def count(value, where: Where, key, *, low: int = 0, high: int = MAX_COUNT, nullable: bool = False) -> int | None:
    """An integer in [low, high]."""
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        where.bad(key, value, f"an integer from {low} to {high}")
    return value


def text(value, where: Where, key, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        where.bad(key, value, f"text (a string of at most {MAX_TEXT} characters)")
    return value


def flag(value, where: Where, key) -> bool:
    if not isinstance(value, bool):
        where.bad(key, value, "true or false")
    return value


def obj(value, where: Where, key) -> dict:
    if not isinstance(value, dict):
        where.bad(key, value, "an object")
    return value


def interval(value, where: Where, key) -> None:
    """A bootstrap interval: ``[low, high]``, two percentages with low <= high."""
    if not isinstance(value, list) or len(value) != 2:
        where.bad(key, value, "[low, high]")
    low, high = (percent(v, where, f"{key}[{i}]") for i, v in enumerate(value))
    if low > high:
        where.bad(key, value, "[low, high] with low <= high")


def optional(data: dict, where: Where, checks: dict) -> None:
    """Run ``checks[key](value, where, key)`` for each key present in ``data``."""
    for key, check in checks.items():
        if key in data:
            check(data[key], where, key)


def names(value, where: Where, key, *, size: int | None = None) -> list[str]:
    """A list of distinct names (of ``size`` entries where given)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CLASSES or (size and len(value) != size):
        where.bad(key, value, f"a list of {size or f'1 to {MAX_CLASSES}'} names")
    for i, name in enumerate(value):
        text(name, where, f"{key}[{i}]")
    if len(set(value)) != len(value):
        where.bad(key, value, "a list of distinct names")
    return value


# --- results -------------------------------------------------------------------------------

def _provenance(data: dict, where: Where) -> None:
    optional(data, where, {"c2fbench_version": text, "time_utc": text,
                           "source": lambda v, w, k: optional(obj(v, w, k), w.inside(k), {
                               "model": text, "sha256": text, "predictions": text}),
                           "data": lambda v, w, k: optional(obj(v, w, k), w.inside(k), {
                               "root": lambda v, w, k: text(v, w, k, nullable=True), "synthetic": flag, "split": text})})


def _per_class_percent(value, where: Where, key, classes: list[str]) -> None:
    obj(value, where, key)
    if list(value) != classes:
        where.fail(key, f"names {_show(list(value))}, not the classes {_show(classes)} in order")
    for name, v in value.items():
        percent(v, where, f"{key}[{name}]", nullable=True)


def check_semantic(data: dict, where: Where) -> None:
    """``metrics.json`` of a semantic benchmark (or a run's ``val``, a parity side)."""
    text(field(data, "benchmark", where), where, "benchmark")
    classes = names(field(data, "classes", where), where, "classes")
    n = len(classes)
    percent(field(data, "mIoU", where), where, "mIoU")
    _per_class_percent(field(data, "per_class_iou", where), where, "per_class_iou", classes)
    matrix = field(data, "confusion_matrix", where)
    if not isinstance(matrix, list) or len(matrix) != n or any(not isinstance(r, list) or len(r) != n for r in matrix):
        where.bad("confusion_matrix", matrix, f"a {n} x {n} list of lists (one row per class)")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            count(v, where, f"confusion_matrix[{i}][{j}]")
    optional(data, where, {
        "num_images": count, "bootstrap": count, "mIoU_ci95": interval,
        "num_classes": lambda v, w, k: count(v, w, k, low=n, high=n),
        "aAcc": lambda v, w, k: percent(v, w, k, nullable=True),
        "mAcc": lambda v, w, k: percent(v, w, k, nullable=True),
        "fwIoU": lambda v, w, k: percent(v, w, k, nullable=True),
        "per_class_acc": lambda v, w, k: _per_class_percent(v, w, k, classes),
        "uncertain": _uncertain, "coverage": lambda v, w, k: percent(v, w, k, nullable=True),
        "uncertain_pixels": count})
    _provenance(data, where)


def _uncertain(value, where: Where, key) -> None:
    """``eval --uncertain``'s convention; the report names it beside the row."""
    if value not in ("ignore", "background"):
        where.bad(key, value, "'ignore' or 'background'")


def check_foreground(data: dict, where: Where) -> None:
    """``metrics.json`` of a foreground benchmark (Object Discovery: J and P per class)."""
    benchmark = text(field(data, "benchmark", where), where, "benchmark")
    per_class = obj(field(data, "per_class", where), where, "per_class")
    if not 1 <= len(per_class) <= MAX_CLASSES:
        where.bad("per_class", per_class, f"an object of 1 to {MAX_CLASSES} classes")
    if benchmark.startswith("mit-"):
        missing = [c for c in MIT_CLASSES if c not in per_class]
        if missing:
            where.fail("per_class", f"lacks {', '.join(missing)} "
                                    f"(an Object Discovery result has {', '.join(MIT_CLASSES)})")
    if "classes" in data:
        names(data["classes"], where, "classes")
        if data["classes"] != list(per_class):
            where.bad("classes", data["classes"], f"the names of per_class {_show(list(per_class))}")
    for name, row in per_class.items():
        inner = where.inside(f"per_class[{name}]")
        obj(row, where, f"per_class[{name}]")
        percent(field(row, "J", inner), inner, "J", nullable=True)
        percent(field(row, "P", inner), inner, "P", nullable=True)
        optional(row, inner, {"num_images": count, "num_images_scored_J": count})
    percent(field(data, "mean_J", where), where, "mean_J")
    percent(field(data, "mean_P", where), where, "mean_P", nullable=True)
    optional(data, where, {"num_images": count, "num_images_without_ground_truth": count, "bootstrap": count,
                           "mean_J_ci95": interval})
    _provenance(data, where)


def check_metrics(data, where: Where, key: str) -> str:
    """An eval result nested under ``key`` (a run's ``val``, a parity side); returns its kind."""
    inner = where.inside(key)
    if not isinstance(data, dict) or not ("per_class_iou" in data or "per_class" in data):
        where.bad(key, data, "an eval result (an object with per_class_iou or per_class)")
    if "per_class_iou" in data:
        check_semantic(data, inner)
        return "semantic"
    check_foreground(data, inner)
    return "foreground"


def check_profile(data: dict, where: Where) -> None:
    """``profile.json`` of ``deploy profile``."""
    results = field(data, "results", where)
    if not isinstance(results, list) or not 1 <= len(results) <= MAX_ENTRIES:
        where.bad("results", results, "a non-empty list of latency entries")
    for i, entry in enumerate(results):
        obj(entry, where, f"results[{i}]")
        inner = where.inside(f"results[{i}]")
        for key in ("backend", "precision"):
            text(field(entry, key, inner), inner, key)
        shape = field(entry, "shape", inner)
        if not isinstance(shape, list) or len(shape) != 4:
            inner.bad("shape", shape, "[B, C, H, W]")
        for j, d in enumerate(shape):
            count(d, inner, f"shape[{j}]", low=1, high=2**31 - 1)
        real(field(entry, "median_ms", inner), inner, "median_ms", low=0)
        real(field(entry, "throughput_ips", inner), inner, "throughput_ips", low=0)
        timing = {key: lambda v, w, k: real(v, w, k, low=0, nullable=True)
                  for key in ("mean_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "gpu_median_ms",
                              "h2d_median_ms", "d2h_median_ms", "latency_median_ms", "enqueue_median_ms", "wall_s",
                              "cv", "median_over_min", "preemptions_per_s")}
        optional(entry, inner, {**timing, "device": text, "iterations": count, "versions": obj,
                                "memory_format": text, "cuda_graph": flag, "gpu_events": flag, "unstable": flag,
                                "vs": _profile_ratios,
                                "threads": lambda v, w, k: count(v, w, k, low=1, high=1 << 20, nullable=True)})
    _provenance(data, where)


def _profile_ratios(ratios, where: Where, key: str) -> None:
    """A profile row's ``vs``: the rows it was timed against, its speed-up and their stability."""
    if not isinstance(ratios, list) or len(ratios) > MAX_ENTRIES:
        where.bad(key, ratios, "a list of speed-up entries")
    for i, entry in enumerate(ratios):
        obj(entry, where, f"{key}[{i}]")
        inner = where.inside(f"{key}[{i}]")
        for name in ("backend", "precision"):
            text(field(entry, name, inner), inner, name)
        real(field(entry, "ratio", inner), inner, "ratio", low=0, nullable=True)
        flag(field(entry, "unstable", inner), inner, "unstable")


def check_parity(data: dict, where: Where) -> None:
    """``parity.json`` of ``deploy parity``: two eval results of one benchmark and the tolerance."""
    kinds = {check_metrics(data[side], where, side) for side in ("reference", "deployed")}
    if len(kinds) > 1 or data["reference"]["benchmark"] != data["deployed"]["benchmark"]:
        where.fail("deployed", f"is scored on {data['deployed']['benchmark']!r}, the reference on "
                               f"{data['reference']['benchmark']!r}: a parity check compares one benchmark")
    optional(data, where, {
        "benchmark": text, "metric": text, "within_tolerance": flag,
        "delta": lambda v, w, k: real(v, w, k, low=-100, high=100),
        "tolerance": lambda v, w, k: real(v, w, k, low=0, high=100, nullable=True),
        "logits": lambda v, w, k: optional(obj(v, w, k), w.inside(k), {
            "argmax_agreement": percent, "max_abs_diff": lambda v, w, k: real(v, w, k, low=0),
            "mean_abs_diff": lambda v, w, k: real(v, w, k, low=0)})})


# --- training runs -------------------------------------------------------------------------

def check_round(line: dict, where: Where) -> None:
    """One line of a run's ``metrics.jsonl`` (validation result as in eval's metrics.json)."""
    count(field(line, "round", where), where, "round", high=1_000_000)

    def losses(value, w, k):  # not shown; a diverged round's NaN loss is a fact, not a malformed file
        if not isinstance(value, list) or len(value) > MAX_ENTRIES:
            w.bad(k, value, "a list of numbers")
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                w.bad(f"{k}[{i}]", v, "a number")

    optional(line, where, {
        "losses": losses, "predictions": obj, "val": lambda v, w, k: check_metrics(v, w, k),
        "train_masks": lambda v, w, k: optional(obj(v, w, k), w.inside(k), {
            "iou": lambda v, w, k: percent(v, w, k, nullable=True),
            "dataset_iou": lambda v, w, k: percent(v, w, k, nullable=True), "empty": count})})


def check_config(config, where: Where) -> None:
    """The fields of a run's ``config.json`` that the report reads."""
    if not isinstance(config, dict):
        raise InputError(f"{where.path}: expected a JSON object, found {type(config).__name__}")
    optional(config, where, {
        "rounds": lambda v, w, k: count(v, w, k, low=1, high=1_000_000), "arch": text,
        "val_root": lambda v, w, k: text(v, w, k, nullable=True),
        "refine_grabcut": flag, "enhance_initial": flag, "initial_boxes": flag})
