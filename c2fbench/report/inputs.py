"""The results a report is built from, read and checked before anything is written.

A RESULT argument is a file or a folder, optionally named ``LABEL=PATH`` (the label is the
row's name in the tables; by default the folder's name). What it holds decides its kind:

- ``semantic`` / ``foreground``: an ``eval --out`` folder or its ``metrics.json``;
- ``run``: a training run directory (``metrics.jsonl``, with ``config.json`` beside it);
- ``profile``: ``deploy profile --out``'s ``profile.json`` (or its folder);
- ``parity``: ``deploy parity --out``'s ``parity.json`` (or its folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from c2fbench.data.mit import MIT_CLASSES
from c2fbench.errors import InputError

FOLDER_FILES = ("metrics.json", "metrics.jsonl", "profile.json", "parity.json")


@dataclass(frozen=True)
class ReportInput:
    kind: str  # "semantic", "foreground", "run", "profile" or "parity"
    label: str
    path: Path  # the file read
    data: dict  # the JSON; for a run: {"config": {...}, "rounds": [line, ...]}


def split_label(argument: str) -> tuple[str | None, Path]:
    """``"ours=runs/eval"`` -> ("ours", Path("runs/eval")); a plain path keeps label None."""
    label, sep, rest = argument.partition("=")
    if sep and label and rest and not Path(argument).exists():
        return label, Path(rest)
    return None, Path(argument)


def load_inputs(arguments: list[str]) -> list[ReportInput]:
    """Every result named by ``arguments``, checked; InputError names the first bad one."""
    inputs = []
    for argument in arguments:
        label, path = split_label(argument)
        inputs += load_result(path, label)
    seen = {}
    for item in inputs:
        other = seen.setdefault((item.kind, item.label), item.path)
        if other != item.path:
            raise InputError(f"{item.path}: the label {item.label!r} is already used by {other}; "
                             f"name them apart as LABEL=PATH")
    return inputs


def load_result(path: Path, label: str | None = None) -> list[ReportInput]:
    """The results in ``path`` (a results file, or a folder holding one or more of them)."""
    path = Path(path)
    if path.is_dir():
        files = [path / name for name in FOLDER_FILES if (path / name).is_file()]
        if not files:
            raise InputError(f"{path}: no results here (expected one of {', '.join(FOLDER_FILES)})")
        name = label or path.resolve().name
        return [_load_file(f, name) for f in files]
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    return [_load_file(path, label or _default_label(path))]


def _default_label(path: Path) -> str:
    parent = path.resolve().parent.name
    return parent if path.name in FOLDER_FILES and parent else path.stem


def _load_file(path: Path, label: str) -> ReportInput:
    if path.suffix == ".jsonl":
        return _load_run(path, label)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    if "per_class_iou" in data:
        _check_semantic(data, path)
        return ReportInput("semantic", label, path, data)
    if "per_class" in data:
        _check_foreground(data, path)
        return ReportInput("foreground", label, path, data)
    if "results" in data:
        _check_profile(data, path)
        return ReportInput("profile", label, path, data)
    if "reference" in data and "deployed" in data:
        for side in ("reference", "deployed"):
            _check_metrics(data[side], path, side)
        return ReportInput("parity", label, path, data)
    raise InputError(f"{path}: not a c2fbench result (expected eval's metrics.json, a run's metrics.jsonl, "
                     f"profile.json or parity.json)")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def _load_run(path: Path, label: str) -> ReportInput:
    rounds = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: not valid JSON ({e})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("round"), int):
            raise InputError(f"{path}:{number}: expected a training-round line with an integer 'round'")
        if "val" in entry:
            _check_metrics(entry["val"], path, f"line {number} 'val'")
        rounds.append(entry)
    if not rounds:
        raise InputError(f"{path}: no training rounds logged yet")
    config_path = path.with_name("config.json")
    config = _read_json(config_path) if config_path.is_file() else {}
    return ReportInput("run", label, path, {"config": config, "rounds": sorted(rounds, key=lambda e: e["round"])})


def _check_metrics(data, path: Path, where: str) -> None:
    if not isinstance(data, dict) or not ("per_class_iou" in data or "per_class" in data):
        raise InputError(f"{path}: {where} is not an eval result (no per_class_iou or per_class)")
    (_check_semantic if "per_class_iou" in data else _check_foreground)(data, path)


def _need(data: dict, keys, path: Path, what: str) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"{path}: {what} lacks {', '.join(missing)}")


def _number(value, path: Path, where: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{path}: {where} = {value!r} is not a number")


def _check_semantic(data: dict, path: Path) -> None:
    _need(data, ("benchmark", "classes", "mIoU", "per_class_iou", "confusion_matrix"), path, "a semantic result")
    classes = data["classes"]
    if list(data["per_class_iou"]) != list(classes):
        raise InputError(f"{path}: per_class_iou names differ from classes")
    matrix = data["confusion_matrix"]
    if (not isinstance(matrix, list) or len(matrix) != len(classes)
            or any(not isinstance(row, list) or len(row) != len(classes) for row in matrix)):
        raise InputError(f"{path}: confusion_matrix is not {len(classes)} x {len(classes)}")
    _number(data["mIoU"], path, "mIoU", optional=False)
    for name, value in data["per_class_iou"].items():
        _number(value, path, f"per_class_iou[{name}]")


def _check_foreground(data: dict, path: Path) -> None:
    _need(data, ("benchmark", "per_class", "mean_J", "mean_P"), path, "a foreground result")
    if str(data["benchmark"]).startswith("mit-"):
        _need(data["per_class"], MIT_CLASSES, path, "per_class of an Object Discovery result")
    _number(data["mean_J"], path, "mean_J", optional=False)
    for name, row in data["per_class"].items():
        if not isinstance(row, dict):
            raise InputError(f"{path}: per_class[{name}] is not an object with J and P")
        _need(row, ("J", "P"), path, f"per_class[{name}]")
        _number(row["J"], path, f"per_class[{name}].J")


def _check_profile(data: dict, path: Path) -> None:
    results = data["results"]
    if not isinstance(results, list) or not results:
        raise InputError(f"{path}: 'results' should be a non-empty list of latency entries")
    for i, entry in enumerate(results):
        if not isinstance(entry, dict):
            raise InputError(f"{path}: results[{i}] is not an object")
        _need(entry, ("backend", "precision", "shape", "median_ms", "throughput_ips"), path, f"results[{i}]")
        shape = entry["shape"]
        if not isinstance(shape, list) or len(shape) != 4 or not all(isinstance(d, int) for d in shape):
            raise InputError(f"{path}: results[{i}].shape = {shape!r} is not [B, C, H, W]")
        for key in ("median_ms", "throughput_ips"):
            _number(entry[key], path, f"results[{i}].{key}", optional=False)
