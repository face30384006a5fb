"""The results a report is built from, read and checked before anything is written
(every field the report reads: :mod:`c2fbench.report.checks`; the ``per_image.npz`` beside
an eval's metrics.json, which the paired section reads: :func:`c2fbench.eval.results.read_per_image`).

A RESULT argument is a file or a folder, optionally named ``LABEL=PATH`` (the label is the
row's name in the tables; by default the folder's name). What it holds decides its kind:

- ``semantic`` / ``foreground``: an ``eval --out`` folder or its ``metrics.json``;
- ``run``: a training run directory (``metrics.jsonl``, with ``config.json`` beside it);
- ``profile``: ``deploy profile --out``'s ``profile.json`` (or its folder);
- ``parity``: ``deploy parity --out``'s ``parity.json`` (or its folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from c2fbench import jsonfile
from c2fbench.files import check_regular_file
from c2fbench.errors import InputError
from c2fbench.eval.results import read_per_image
from c2fbench.report.checks import (Where, check_config, check_foreground, check_parity, check_profile,
                                    check_round, check_semantic)

FOLDER_FILES = ("metrics.json", "metrics.jsonl", "profile.json", "parity.json")
MAX_JSON_BYTES = 256 << 20  # a results file; a VOC metrics.json is about 10 kB


@dataclass(frozen=True)
class ReportInput:
    kind: str  # "semantic", "foreground", "run", "profile" or "parity"
    label: str
    path: Path  # the file read
    data: dict  # the JSON; for a run: {"config": {...}, "rounds": [line, ...]}


def split_label(argument: str) -> tuple[str | None, Path]:
    """``"ours=runs/eval"`` -> ("ours", Path("runs/eval")); a plain path keeps label None."""
    label, sep, rest = argument.partition("=")
    if sep and label and rest and not _exists(Path(argument)):
        return label, Path(rest)
    return None, Path(argument)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the filesystem (a long LABEL=PATH) is no file
        return False


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
        files = [path / name for name in FOLDER_FILES if (path / name).exists()]
        if not files:
            raise InputError(f"{path}: no results here (expected one of {', '.join(FOLDER_FILES)})")
        name = label or path.resolve().name
        return [_load_file(f, name) for f in files]
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return [_load_file(path, label or _default_label(path))]


def _default_label(path: Path) -> str:
    parent = path.resolve().parent.name
    return parent if path.name in FOLDER_FILES and parent else path.stem


def read_metrics(folder: Path) -> dict:
    """``metrics.json`` of a results folder (or the file itself), read and checked field by
    field as ``c2fbench report`` checks it (:mod:`c2fbench.report.checks`): a FIFO, a huge
    or deeply nested file, a NaN or a 400-digit score is an InputError naming the file."""
    path = Path(folder)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.exists():
        raise InputError(f"{path}: results file not found")
    data = read_json(path)
    if not isinstance(data, dict) or not ("per_class_iou" in data or "per_class" in data):
        raise InputError(f"{path}: not the metrics.json of `c2fbench eval --out` (expected a JSON object with "
                         f"per_class_iou or per_class)")
    (check_semantic if "per_class_iou" in data else check_foreground)(data, Where(path))
    return data


def _load_file(path: Path, label: str) -> ReportInput:
    if path.suffix == ".jsonl":
        return _load_run(path, label)
    data = read_json(path)
    where = Where(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(data).__name__}")
    if "per_class_iou" in data or "per_class" in data:
        kind = "semantic" if "per_class_iou" in data else "foreground"
        (check_semantic if kind == "semantic" else check_foreground)(data, where)
        if (path.parent / "per_image.npz").is_file():  # the paired section reads it: refused now if bad
            read_per_image(path.parent, data)
        return ReportInput(kind, label, path, data)
    if "results" in data:
        check_profile(data, where)
        return ReportInput("profile", label, path, data)
    if "reference" in data and "deployed" in data:
        check_parity(data, where)
        return ReportInput("parity", label, path, data)
    raise InputError(f"{path}: not a c2fbench result (expected eval's metrics.json, a run's metrics.jsonl, "
                     f"profile.json or parity.json)")


def _read_text(path: Path) -> str:
    check_regular_file(path, max_bytes=MAX_JSON_BYTES, what="results file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None


def read_json(path: Path):
    """A results file's JSON (a regular file of bounded size, nested a few levels); InputError
    naming it (:func:`c2fbench.jsonfile.read_json`, the one JSON reader)."""
    return jsonfile.read_json(path, "results file", max_bytes=MAX_JSON_BYTES)


def _load_run(path: Path, label: str) -> ReportInput:
    rounds: dict[int, dict] = {}
    benchmark = None
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        entry = jsonfile.parse_json(line, f"{path}:{number}")
        if not isinstance(entry, dict) or not isinstance(entry.get("round"), int):
            raise InputError(f"{path}:{number}: expected a training-round line with an integer 'round'")
        where = Where(path, f"line {number} ")
        check_round(entry, where)
        if entry["round"] in rounds:
            raise InputError(f"{path}: line {number} round = {entry['round']} is logged twice")
        if "val" in entry:
            benchmark = benchmark or entry["val"]["benchmark"]
            if entry["val"]["benchmark"] != benchmark:
                where.bad("val.benchmark", entry["val"]["benchmark"], f"{benchmark!r} like the rounds before it")
        rounds[entry["round"]] = entry
    if not rounds:
        raise InputError(f"{path}: no training rounds logged yet")
    config_path = path.with_name("config.json")
    config = read_json(config_path) if config_path.exists() else {}
    check_config(config, Where(config_path))
    return ReportInput("run", label, path, {"config": config, "rounds": [rounds[r] for r in sorted(rounds)]})
