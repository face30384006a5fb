"""Writing and reading an eval's output folder (the contracts in DESIGN.md).

``metrics.json`` holds the scores; ``per_image.npz`` holds each image's own result keyed
by id (``ids`` with ``confusion`` (N, C, C) int64, or ``ids``, ``group``, ``J``, ``P``), so
bootstrap intervals and paired comparisons need no re-run; ``confusion.csv`` and
``confusion.png`` show the matrix. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from c2fbench.data.atomic import atomic_open, atomic_write_text
from c2fbench.errors import InputError


def write_eval(out: Path, result, *, figures: bool = True) -> list[Path]:
    """Write an :class:`~c2fbench.evaluator.EvalResult`; returns the paths written."""
    out = Path(out)
    metrics, bench = result.metrics, result.benchmark
    ids = np.array([s.id for s in bench.samples])
    written = [out / "per_image.npz"]
    with atomic_open(written[0]) as f:
        if bench.kind == "semantic":
            np.savez_compressed(f, ids=ids, confusion=result.per_image)
        else:
            np.savez_compressed(f, ids=ids, group=np.array([s.group for s in bench.samples]),
                                classes=np.array(bench.classes), J=result.per_image[:, 0], P=result.per_image[:, 1])
    if bench.kind == "semantic":
        written.append(out / "confusion.csv")
        atomic_write_text(written[-1], _confusion_csv(metrics["confusion_matrix"], bench.classes))
        if figures:
            from c2fbench.report.figures import write_confusion_heatmap

            written.append(out / "confusion.png")
            write_confusion_heatmap(written[-1], np.array(metrics["confusion_matrix"]), bench.classes,
                                    title=f"{bench.name}: row-normalised confusion (%)")
    written.append(out / "metrics.json")
    atomic_write_text(written[-1], json.dumps(metrics, indent=2) + "\n")
    return written


def _confusion_csv(matrix, classes) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["gt\\pred", *classes])
    for name, row in zip(classes, matrix):
        writer.writerow([name, *row])
    return buf.getvalue()


def read_metrics(folder: Path) -> dict:
    """``metrics.json`` of a results folder (or the file itself)."""
    path = Path(folder)
    path = path / "metrics.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: results file not found") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
