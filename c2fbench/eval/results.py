"""Writing and reading an eval's output folder (the contracts in DESIGN.md).

``metrics.json`` holds the scores; ``per_image.npz`` holds each image's own result keyed
by id (``ids`` with ``confusion`` (N, C, C) int64, or with each image's nonzero cells when
that would be large, as on COCO: :func:`semantic_stats` reads both; or ``ids``, ``group``,
``classes``, ``J``, ``P``), so bootstrap intervals and paired comparisons need no re-run;
``confusion.csv`` and ``confusion.png`` show the matrix; ``worst.csv`` (with ``eval
--worst`` or ``--show-dir``) ranks the images by their own score
(:mod:`c2fbench.eval.worst`). An eval of CAM seeds (``--cams``, :mod:`c2fbench.eval.seeds`)
is written at its best threshold, with ``cam_sweep``, ``best_threshold``,
``per_class_precision``, ``per_class_recall`` and ``cam_files`` in ``metrics.json`` and the
sweep's curve in ``cam_sweep.png``.

**Figures are drawn by the caller** (:func:`c2fbench.report.figures.eval_figures`) and
handed over as bytes, so that this module, which ``report`` reads results with, never
imports ``report``: dependencies point one way. The bytes go into the same staged unit and
the same sha256 record as every other file.

**The folder is written as one unit.** Every file is built in a hidden staging folder
beside ``--out`` and swapped into its place in one step
(:func:`c2fbench.atomic.staged_folder`), and the old folder is deleted. A run killed or out of disk space while writing leaves ``--out`` as it was, never
an old ``metrics.json`` beside a new ``per_image.npz``. Because the whole folder is
replaced, ``--out`` must be new, empty, or an earlier eval's folder; anything else in it
is refused before scoring starts. Replacing an earlier result is said in one line
(:func:`replaced_note`): its benchmark and score, and what the new one lacks.

**Readers check that the files belong together.** ``metrics.json`` records the sha256 of
its sibling files (``files``); :func:`read_per_image` refuses a ``per_image.npz`` whose
hash differs, and, for folders written before the record existed, one whose sums
disagree with ``metrics.json`` (its confusion matrix, or its per-class J).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from c2fbench.atomic import StorageError, atomic_write_bytes, remove_stale_temporaries, staged_folder
from c2fbench.errors import InputError
from c2fbench.eval.csvtext import csv_text
from c2fbench.numerics import numerics

OUTPUT_FILES = ("metrics.json", "per_image.npz", "confusion.csv", "confusion.png", "worst.csv", "cam_sweep.png")
FIGURE_FILES = ("confusion.png", "cam_sweep.png")  # drawn by the caller, written by write_eval
MAX_PER_IMAGE_BYTES = 2 << 30  # per_image.npz, on disk and unpacked; VOC val is 5 MB, COCO val a few MB


def check_out_folder(out: Path) -> None:
    """Refuse an ``--out`` that eval could not replace as a whole: a file, or a folder
    holding anything but an earlier eval's files. Called before scoring starts."""
    out = Path(out)
    if not Path(os.path.abspath(out)).name:
        raise InputError(f"{out}: the root folder cannot hold eval results; give --out a folder")
    if not out.exists():
        if out.is_symlink():
            raise InputError(f"{out}: a broken link; expected a new folder or an eval results folder")
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (expected a new folder or an eval results folder)")
    if out.is_symlink():
        raise InputError(f"{out}: a link to a folder; eval replaces its output folder as a whole, give the folder")
    with contextlib.suppress(OSError):  # the process's folder would be swapped away under it
        here, target = Path.cwd().resolve(), out.resolve()
        if here == target or target in here.parents:
            raise InputError(f"{out}: is the current folder or holds it; eval replaces its output folder as a "
                             f"whole, so give a folder elsewhere")
    foreign = sorted(n for n in os.listdir(out) if n not in OUTPUT_FILES and not _atomic_leftover(n))
    if foreign:
        raise InputError(f"{out}: holds {len(foreign)} entries that are not eval results (first: {foreign[0]}); "
                         f"eval replaces its output folder as a whole, so give a new or empty folder")


def _atomic_leftover(name: str) -> bool:
    """A temporary file left by a killed atomic write of ours (``.<file>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp") and name[1:].split(".tmp")[0].startswith(OUTPUT_FILES)


def write_eval(out: Path, result, *, figures: dict[str, bytes] | None = None,
               worst: str | None = None, inform: Callable[[str], None] = lambda message: None) -> list[Path]:
    """Write an :class:`~c2fbench.eval.evaluator.EvalResult` into ``out`` as one unit; returns
    the paths written. ``figures`` maps names of :data:`FIGURE_FILES` to PNG bytes already
    drawn (:func:`c2fbench.report.figures.eval_figures`); none by default. ``worst``: the
    text of ``worst.csv`` (:func:`c2fbench.eval.worst.worst_csv`), none by default. On any
    failure ``out`` is left as it was. When ``out`` held an earlier result, ``inform`` gets
    one line on it once it is replaced (:func:`replaced_note`)."""
    unknown = sorted(set(figures or {}) - set(FIGURE_FILES))
    if unknown:  # check_out_folder would refuse the next run into a folder holding them
        raise ValueError(f"not an eval figure: {unknown[0]} (expected one of {', '.join(FIGURE_FILES)})")
    target = Path(os.path.abspath(out))
    remove_stale_temporaries(target.parent, [target.name])  # staging folders of a run killed while writing here
    check_out_folder(out)
    files = _render(result, figures or {}, worst)
    note = replaced_note(out, files)  # read before the swap deletes it
    try:
        with staged_folder(out) as staging:
            for name, data in files.items():
                atomic_write_bytes(staging / name, data)
    except (OSError, StorageError) as e:  # a full disk: StorageError from the staged folder
        e = getattr(e, "os_error", e)
        raise InputError(f"{out}: could not write the results ({e.strerror or e}); "
                         f"the folder was left as it was") from None
    if note is not None:
        inform(note)
    return [Path(out) / name for name in files]


def replaced_note(out: Path, files: dict[str, bytes]) -> str | None:
    """One line on the earlier result in ``out`` that ``files`` (the new folder, as
    :func:`_render` gives it) replaces: its benchmark, headline and time, and the
    ``metrics.json`` fields and files that the new one does not have (a ``--worst`` rerun
    without ``--bootstrap`` drops ``mIoU_ci95``). None when ``out`` holds no result."""
    out = Path(out)
    present = sorted(n for n in os.listdir(out) if n in OUTPUT_FILES) if out.is_dir() else []
    if not present:
        return None
    lost = [n for n in present if n not in files]
    what = "an earlier result"
    if "metrics.json" in present:
        from c2fbench.jsonfile import read_json_object

        try:
            old = read_json_object(out / "metrics.json", "metrics.json")
        except InputError:
            what += " (its metrics.json unreadable)"
        else:
            new = json.loads(files["metrics.json"])
            lost = [key for key in old if key not in new] + lost
            what += f" ({_headline(old)})"
    return f"{out}: replaced {what}" + (f"; the new one has no {', '.join(lost)}" if lost else "")


def _headline(metrics: dict) -> str:
    """A metrics.json's benchmark, headline and time, those it holds: "voc-val, mIoU 63.21,
    2024-05-01T12:00:00+00:00"."""
    parts = [str(metrics["benchmark"])] if isinstance(metrics.get("benchmark"), str) else []
    for key, name in (("mIoU", "mIoU"), ("mean_J", "mean J")):
        if isinstance(metrics.get(key), (int, float)) and not isinstance(metrics[key], bool):
            parts.append(f"{name} {metrics[key]:.2f}")
    if isinstance(metrics.get("time_utc"), str):
        parts.append(metrics["time_utc"][:40])
    return ", ".join(parts) or "no benchmark named"


def _render(result, figures: dict[str, bytes], worst: str | None = None) -> dict[str, bytes]:
    """Every file of the folder as bytes, ``metrics.json`` (with the others' sha256) last."""
    metrics, bench = dict(result.metrics), result.benchmark
    ids = np.array([s.id for s in bench.samples])
    buf = io.BytesIO()
    if bench.kind == "semantic":
        np.savez_compressed(buf, ids=ids, **_semantic_arrays(result.metric))
    else:
        np.savez_compressed(buf, ids=ids, group=np.array([s.group for s in bench.samples]),
                            classes=np.array(bench.classes), J=result.per_image[:, 0], P=result.per_image[:, 1])
    files = {"per_image.npz": buf.getvalue()}
    if bench.kind == "semantic":
        files["confusion.csv"] = _confusion_csv(metrics["confusion_matrix"], bench.classes).encode()
    if worst is not None:
        files["worst.csv"] = worst.encode()
    files.update(figures)
    metrics["files"] = {name: {"sha256": hashlib.sha256(data).hexdigest()} for name, data in files.items()}
    metrics.setdefault("numerics", numerics())  # what decided a --model's floats (c2fbench/numerics.py)
    files["metrics.json"] = (json.dumps(metrics, indent=2) + "\n").encode()
    return files


def _confusion_csv(matrix, classes) -> str:
    """The matrix with its class names (text cells no spreadsheet runs as a formula)."""
    return csv_text([["gt\\pred", *classes], *([name, *row] for name, row in zip(classes, matrix))],
                    lineterminator="\n")


def read_per_image(folder: Path, metrics: dict) -> dict[str, np.ndarray]:
    """The checked arrays of ``folder/per_image.npz``, which must belong with ``metrics``.

    Loaded without pickle; refused (InputError naming the file) when it is missing,
    corrupt, holds object arrays, has the wrong keys, shapes or dtypes, or does not match
    ``metrics.json`` (recorded sha256, image count, summed results).
    """
    path = Path(folder) / "per_image.npz"
    if not path.exists():
        raise InputError(f"{path}: not found (compare needs the per_image.npz that `c2fbench eval --out` writes)")
    from c2fbench.files import check_regular_file

    check_regular_file(path, max_bytes=MAX_PER_IMAGE_BYTES, what="per_image.npz")
    data = path.read_bytes()
    recorded = _recorded_sha256(metrics, "per_image.npz")
    if recorded is not None and recorded != hashlib.sha256(data).hexdigest():
        raise InputError(f"{path}: does not belong with the metrics.json beside it (its sha256 differs from the one "
                         f"metrics.json records); re-run `c2fbench eval --out`")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_PER_IMAGE_BYTES:
                raise InputError(f"{path}: unpacks to more than {MAX_PER_IMAGE_BYTES >> 30} GiB")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except InputError:
        raise
    except Exception as e:  # zip, zlib, header and pickle errors alike mean "not a readable per_image.npz"
        reason = "holds Python objects (refused: loading them could run code)" if "allow_pickle" in str(e) \
            else f"corrupt or not an .npz file ({type(e).__name__})"
        raise InputError(f"{path}: {reason}") from None
    semantic = "confusion_matrix" in metrics
    _check_arrays(path, arrays, metrics, semantic)
    _check_sums(path, arrays, metrics, semantic)
    return arrays


def _recorded_sha256(metrics: dict, name: str) -> str | None:
    """The sha256 metrics.json records for a sibling file; None in folders written before the record."""
    entry = metrics.get("files", {}).get(name) if isinstance(metrics.get("files"), dict) else None
    return entry.get("sha256") if isinstance(entry, dict) else None


DENSE_MAX_BYTES = 64 << 20  # per-image matrices up to this size are stored dense (VOC val: 5 MB)
CELL_KEYS = ("cell_image", "cell_gt", "cell_pred", "cell_count")


def _semantic_arrays(metric) -> dict[str, np.ndarray]:
    """per_image.npz's arrays of a ConfusionMatrix: ``confusion`` (N, C, C) int64 when that
    takes at most :data:`DENSE_MAX_BYTES`, else each image's nonzero cells (``cell_image``
    row, ``cell_gt``, ``cell_pred``, ``cell_count``; 2.1 GB dense on COCO val, a few MB so)."""
    n, c = len(metric.images), metric.num_classes
    if n * c * c * 8 <= DENSE_MAX_BYTES:
        return {"confusion": metric.per_image}
    rows, cells, counts = metric.cells()
    keys = np.unique(rows * (c * c) + cells)  # each image's cell once, its counts added
    merged = np.bincount(np.searchsorted(keys, rows * (c * c) + cells), weights=counts, minlength=keys.size)
    return {"cell_image": (keys // (c * c)).astype(np.int32), "cell_gt": ((keys % (c * c)) // c).astype(np.int16),
            "cell_pred": (keys % c).astype(np.int16), "cell_count": merged.astype(np.int64)}


def semantic_stats(arrays: dict, num_classes: int) -> np.ndarray:
    """(N, 3, C) int64 class statistics (true positives, ground-truth and predicted pixels per
    image and class) of a checked semantic per_image.npz, dense or by cells."""
    from c2fbench.metrics.semantic import stats_of

    if "confusion" in arrays:
        return stats_of(arrays["confusion"])
    from c2fbench.metrics.confusion import cell_stats

    return cell_stats(*(arrays[k] for k in CELL_KEYS), len(arrays["ids"]), num_classes)


def _summed_matrix(arrays: dict, num_classes: int) -> np.ndarray:
    if "confusion" in arrays:
        return arrays["confusion"].sum(axis=0)
    c = num_classes
    cells = arrays["cell_gt"].astype(np.int64) * c + arrays["cell_pred"]
    return np.bincount(cells, weights=arrays["cell_count"], minlength=c * c).astype(np.int64).reshape(c, c)


def _check_arrays(path: Path, arrays: dict, metrics: dict, semantic: bool) -> None:
    cells = semantic and "confusion" not in arrays
    need = (("ids", *CELL_KEYS) if cells else ("ids", "confusion")) if semantic else ("ids", "group", "J", "P")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"{path}: lacks the array {missing[0]!r} (expected {', '.join(need)})")
    ids = arrays["ids"]
    if ids.ndim != 1 or ids.dtype.kind != "U":
        raise InputError(f"{path}: 'ids' must be a 1-D array of strings, found {ids.dtype} {ids.shape}")
    n = len(ids)
    if n != metrics.get("num_images"):
        raise InputError(f"{path}: {n} images but metrics.json says {metrics.get('num_images')}; "
                         f"the two files do not belong together")
    if len(set(ids.tolist())) != n:
        raise InputError(f"{path}: 'ids' lists some image twice")
    if cells:
        c = metrics.get("num_classes")
        shapes = {arrays[k].shape for k in CELL_KEYS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1 or any(arrays[k].dtype.kind not in "iu"
                                                                     for k in CELL_KEYS):
            raise InputError(f"{path}: {', '.join(CELL_KEYS)} must be integer arrays of one length")
        for key, high in (("cell_image", n), ("cell_gt", c), ("cell_pred", c)):
            if ((arrays[key] < 0) | (arrays[key] >= high)).any():
                raise InputError(f"{path}: {key!r} holds values outside 0..{high - 1}")
        if (arrays["cell_count"] < 0).any():
            raise InputError(f"{path}: 'cell_count' holds negative counts")
        return
    if semantic:
        c = metrics.get("num_classes")
        m = arrays["confusion"]
        if m.dtype.kind not in "iu" or m.shape != (n, c, c):
            raise InputError(f"{path}: 'confusion' must be integer ({n}, {c}, {c}), found {m.dtype} {m.shape}")
        if (m < 0).any():
            raise InputError(f"{path}: 'confusion' holds negative counts")
        return
    k = len(metrics.get("classes") or ())
    group = arrays["group"]
    if group.dtype.kind not in "iu" or group.shape != (n,) or ((group < 0) | (group >= k)).any():
        raise InputError(f"{path}: 'group' must be ({n},) class indices 0..{k - 1}, found {group.dtype} {group.shape}")
    for key in ("J", "P"):
        v = arrays[key]
        if v.dtype.kind != "f" or v.shape != (n,):
            raise InputError(f"{path}: {key!r} must be ({n},) floats, found {v.dtype} {v.shape}")
        finite = v[~np.isnan(v)] if key == "J" else v
        if np.isnan(finite).any() or (finite < 0).any() or (finite > 1).any():
            raise InputError(f"{path}: {key!r} must lie in [0, 1]" + (" or be NaN" if key == "J" else ""))


def _check_sums(path: Path, arrays: dict, metrics: dict, semantic: bool) -> None:
    """The per-image results must add up to metrics.json's (folders written before the sha256 record)."""
    try:
        if semantic:
            agrees = np.array_equal(_summed_matrix(arrays, metrics["num_classes"]),
                                    np.asarray(metrics["confusion_matrix"]))
        else:
            from c2fbench.metrics.foreground import foreground_scores

            scores = foreground_scores(metrics["classes"], arrays["group"], arrays["J"], arrays["P"])
            recorded = [(metrics["per_class"].get(name) or {}).get("J") for name in metrics["classes"]]
            recorded = np.array([np.nan if v is None else v for v in recorded], dtype=np.float64)
            agrees = np.allclose(scores.j, recorded, rtol=1e-9, atol=1e-9, equal_nan=True)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise InputError(f"{path.parent / 'metrics.json'}: not an eval's metrics.json (its scores could not be "
                         f"read beside {path.name})") from None
    if not agrees:
        what = "confusion matrices do not sum to" if semantic else "J values do not average to"
        raise InputError(f"{path}: its {what} the metrics.json beside it; the two files do not belong together "
                         f"(re-run `c2fbench eval --out`)")
