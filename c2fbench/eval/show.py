"""``eval --show-dir DIR``: one overlay PNG per ranked image, written as one unit.

The folder holds ``<rank>_<id>.png`` (rank zero-padded so that a file listing is the
ranking; the id with every character but letters, digits, ``.``, ``_`` and ``-`` as ``_``,
so MIT's ``Airplane100/0001`` is ``Airplane100_0001``), ``worst.csv``, the ranking, and
``c2fbench-show-dir.json`` (:data:`MARKER`), which says this command wrote the folder.
Like ``--out`` it is built in a staging folder beside ``DIR`` and swapped into place
(:func:`c2fbench.atomic.staged_folder`), so ``DIR`` must be new, empty or an earlier
show-dir, recognised by its marker and nothing else: VOC's own ids (``2007_000033.png``)
look like overlay names, and a folder of predictions may hold a ``worst.csv`` too. Anything
else is refused before scoring starts, never deleted (a show-dir written before the marker
existed is refused once: delete it by hand).

The overlays need each image's prediction again after scoring: :func:`views` re-loads only
the ranked images from the prediction source (a PNG folder reads the files again; a model
runs again on those images). :func:`drawn` draws them with a function it is given (the
drawing lives in :mod:`c2fbench.report.overlays`; eval never imports report), in worker
processes where the source allows, as the evaluator scores: about 0.3 s an image here.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from c2fbench.atomic import StorageError, atomic_write_bytes, remove_stale_temporaries, staged_folder
from c2fbench.errors import InputError
from c2fbench.eval.worst import RankedImage
from c2fbench.parallel import pool

RANKING_FILE = "worst.csv"
MARKER = "c2fbench-show-dir.json"  # what makes a folder an earlier show-dir: never its file names
WRITTEN_BY = "c2fbench eval --show-dir"
_OVERLAY = re.compile(r"^\d+_[A-Za-z0-9._-]+\.png$")
MAX_NAME = 200  # characters of a file name: most filesystems allow 255 bytes


def overlay_name(rank: int, image_id: str, total: int) -> str:
    """``0007_2007_000033.png``: the rank padded to the width of ``total``, the id flattened.

    >>> overlay_name(7, "Airplane100/0001", 100)
    '007_Airplane100_0001.png'
    """
    flat = re.sub(r"[^A-Za-z0-9._-]", "_", image_id)[:MAX_NAME]
    return f"{rank:0{len(str(total))}d}_{flat}.png"


def check_show_dir(show_dir: Path) -> None:
    """Refuse a ``--show-dir`` that could not be replaced as a whole: a file, a link, the
    current folder, or a folder holding anything but an earlier show-dir (its overlays,
    ``worst.csv`` and the :data:`MARKER` this command writes). Called before scoring starts;
    ``--out`` and the inputs are kept apart by :func:`c2fbench.eval.outputs.check_eval_outputs`."""
    show_dir = Path(show_dir)
    if not Path(os.path.abspath(show_dir)).name:
        raise InputError(f"{show_dir}: the root folder cannot hold overlays; give --show-dir a folder")
    if show_dir.is_symlink():
        raise InputError(f"{show_dir}: a link; --show-dir replaces its folder as a whole, give the folder itself")
    if not show_dir.exists():
        return
    if not show_dir.is_dir():
        raise InputError(f"{show_dir}: exists and is not a folder (expected a new folder or an earlier --show-dir)")
    with contextlib.suppress(OSError):
        here, target = Path.cwd().resolve(), show_dir.resolve()
        if here == target or target in here.parents:
            raise InputError(f"{show_dir}: is the current folder or holds it; --show-dir replaces its folder as a "
                             f"whole, so give a folder elsewhere")
    names = os.listdir(show_dir)
    foreign = sorted(n for n in names if not _ours(show_dir / n))
    if foreign:
        raise InputError(f"{show_dir}: holds {len(foreign)} entries that are not overlays (first: {foreign[0]}); "
                         f"--show-dir replaces its folder as a whole, so give a new or empty folder")
    if any(not _leftover(n) for n in names) and not _marked(show_dir / MARKER):
        # overlay-like names prove nothing: VOC's own ids (2007_000033.png) look like overlays
        raise InputError(f"{show_dir}: holds files but no {MARKER}, so `eval --show-dir` did not write it (a "
                         f"predictions folder?); give a new or empty folder")


def _leftover(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")  # a killed atomic write of ours


def _ours(path: Path) -> bool:
    name = path.name
    plain = path.is_file() and not path.is_symlink()
    return _leftover(name) or (plain and (name in (RANKING_FILE, MARKER) or bool(_OVERLAY.match(name))))


def _marked(path: Path) -> bool:
    """Whether ``path`` is the marker an earlier ``eval --show-dir`` wrote."""
    from c2fbench.jsonfile import read_json

    if not path.is_file() or path.is_symlink():
        return False
    try:
        value = read_json(path, "show-dir marker", max_bytes=1 << 16)
    except InputError:
        return False
    return isinstance(value, dict) and value.get("written_by") == WRITTEN_BY


def marker_json(count: int) -> bytes:
    """The marker's text: who wrote the folder, and how many overlays it holds."""
    import json

    from c2fbench import __version__

    return (json.dumps({"written_by": WRITTEN_BY, "c2fbench": __version__, "overlays": count,
                        "ranking": RANKING_FILE}, indent=2) + "\n").encode()


def write_show_dir(show_dir: Path, overlays: Iterable[tuple[str, bytes]], ranking_csv: str, *,
                   advance: Callable[[int], None] = lambda n: None) -> int:
    """Write ``overlays`` ((file name, PNG bytes), drawn one at a time as the iterable is
    consumed), ``worst.csv`` and the :data:`MARKER` into ``show_dir`` as one unit; returns
    the number of overlays. On any failure ``show_dir`` is left as it was. Staging folders
    of an earlier run killed while writing here are removed first."""
    target = Path(os.path.abspath(show_dir))
    remove_stale_temporaries(target.parent, [target.name])
    check_show_dir(show_dir)
    count = 0
    try:
        with staged_folder(show_dir) as staging:
            for name, png in overlays:
                atomic_write_bytes(staging / name, png)
                count += 1
                advance(1)
            atomic_write_bytes(staging / RANKING_FILE, ranking_csv.encode())
            atomic_write_bytes(staging / MARKER, marker_json(count))
    except (OSError, StorageError) as e:
        cause = e.os_error if isinstance(e, StorageError) else e  # a full disk: StorageError from the staging
        raise InputError(f"{show_dir}: could not write the overlays ({cause.strerror or cause}); "
                         f"the folder was left as it was") from None
    return count


@dataclass(frozen=True)
class View:
    """What an overlay shows of one ranked image: ``rgb`` (H, W, 3) uint8; ``truth`` and
    ``pred`` (H, W) class indices (void 255) or bool foreground masks."""

    item: RankedImage
    rgb: np.ndarray
    truth: np.ndarray
    pred: np.ndarray


def views(benchmark, source, ranked: list[RankedImage]) -> Iterator[View]:
    """A :class:`View` for each ranked image, in rank order: the image, its ground truth and
    ``source``'s prediction, loaded again."""
    from c2fbench.data.images import read_rgb
    from c2fbench.eval.evaluator import read_truth

    samples = benchmark.samples
    for item in ranked:
        sample = samples[item.index]
        truth = read_truth(benchmark, sample)
        pred = source.load(sample, truth.shape, benchmark.kind)
        yield View(item, read_rgb(sample.image), truth, pred)


def drawn(benchmark, source, ranked: list[RankedImage], draw: Callable[[View], bytes], *,
          workers: int = 1) -> Iterator[tuple[str, bytes]]:
    """(file name, PNG bytes) of each ranked image, in rank order, ``draw(view)`` giving the
    bytes; drawn by ``workers`` processes when the source is ``parallel_safe`` (a PNG folder;
    a model runs in this process), the same bytes either way."""
    def name(item: RankedImage) -> str:
        return overlay_name(item.rank, item.id, len(ranked))

    if workers <= 1 or len(ranked) < 2 or not source.parallel_safe:
        for view in views(benchmark, source, ranked):
            yield name(view.item), draw(view)
        return
    with pool(min(workers, len(ranked)), initializer=_init_worker, initargs=(benchmark, source, draw)) as workers_pool:
        for item, png in zip(ranked, workers_pool.imap(_draw_one, ranked, chunksize=4)):
            yield name(item), png


_worker_state: tuple | None = None  # (benchmark, source, draw), given once at start-up


def _init_worker(benchmark, source, draw) -> None:
    global _worker_state
    import cv2

    cv2.setNumThreads(1)
    _worker_state = (benchmark, source, draw)


def _draw_one(item: RankedImage) -> bytes:
    assert _worker_state is not None, "a worker started without _init_worker"
    benchmark, source, draw = _worker_state
    return draw(next(views(benchmark, source, [item])))
