"""Run one job over a mirrored image tree: sharded, parallel, resumable, counted.

A job maps each image id (``<wnid>/<stem>``) to output files ``OUT/<id>.png``. The runner

- takes this process's share of the ids: ``--shard K/N`` (K = 0..N-1, for job arrays), or
  ``RANK`` / ``WORLD_SIZE`` when launched under ``torchrun``; outputs merge by construction;
- skips ids whose outputs all exist (every output is written atomically, so an existing
  file is a finished one) and removes temporary files a killed run left for its ids;
- spreads the rest over worker processes, each id's result independent of the others;
- reports unreadable inputs by name and goes on (``strict`` stops at the first);
- counts what happened and writes it to ``summary.json`` (``summary-K-of-N.json`` when
  sharded), atomically. ``done``, ``skipped_existing`` and ``failed`` count this call;
  ``stats`` (events such as fallbacks or dropped images) describe every finished output, so
  a resumed call adds its events to those its previous summary recorded (a process killed
  outright writes no summary, so its events are not carried).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from c2fbench.data.atomic import atomic_write_text
from c2fbench.errors import InputError


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def resolve(cls, option: str | None) -> "Shard":
        """``--shard K/N`` if given, else torchrun's RANK/WORLD_SIZE, else the whole set."""
        if option:
            match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", option)
            if not match or not 0 <= int(match[1]) < int(match[2]):
                raise InputError(f"--shard {option!r}: expected K/N with 0 <= K < N, e.g. 0/4")
            return cls(int(match[1]), int(match[2]))
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        if rank is not None and world is not None:
            return cls(int(rank), int(world))
        return cls()

    def take(self, ids: list[str]) -> list[str]:
        return ids[self.index::self.count]

    @property
    def summary_name(self) -> str:
        return "summary.json" if self.count == 1 else f"summary-{self.index}-of-{self.count}.json"


@dataclass
class ItemResult:
    id: str
    status: str  # "done" or "failed"
    stat: str | None = None  # a counted event, e.g. a GrabCut fallback
    error: str | None = None


class Job(Protocol):
    """What the runner needs of a job; jobs are frozen dataclasses, pickled to workers once."""

    name: str

    def outputs(self, image_id: str) -> list[Path]: ...
    def process(self, image_id: str) -> ItemResult: ...


def item_seed(seed: int, image_id: str) -> int:
    """A per-image seed from the run's seed and the id: independent of order and workers."""
    return zlib.crc32(f"{seed}:{image_id}".encode()) & 0x7FFFFFFF


@dataclass
class Summary:
    job: str
    shard: str
    total: int
    done: int = 0
    skipped_existing: int = 0
    failed: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first few, "id: message"
    options: dict = field(default_factory=dict)


def remove_stale_temporaries(paths: list[Path]) -> int:
    """Delete temporary files (``.<name>.*.tmp``, see data/atomic.py) left for ``paths``.

    Only temporaries of the given outputs are touched, so shards sharing a tree never
    remove each other's files in progress.
    """
    by_folder: dict[Path, set[str]] = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    removed = 0
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in os.listdir(folder):
            if entry.startswith(".") and entry.endswith(".tmp") and entry[1:].rsplit(".", 2)[0] in names:
                (folder / entry).unlink(missing_ok=True)
                removed += 1
    return removed


_job: Job | None = None


def _init_worker(job: Job) -> None:
    global _job
    import cv2

    cv2.setNumThreads(1)
    _job = job


def _process(image_id: str) -> ItemResult:
    return _job.process(image_id)


def _earlier_stats(path: Path, summary: Summary) -> dict[str, int]:
    """Events of the outputs an earlier call of the same job finished (now skipped as existing);
    nothing when that summary is absent, for another job or shard, or covers more than exists."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if (earlier.get("job"), earlier.get("shard"), earlier.get("total")) != (summary.job, summary.shard, summary.total):
        return {}
    finished = earlier.get("done", 0) + earlier.get("skipped_existing", 0)
    return earlier.get("stats", {}) if finished <= summary.skipped_existing else {}


def run_job(job: Job, ids: list[str], *, out: Path, shard: Shard = Shard(), workers: int = 1,
            strict: bool = False, options: dict | None = None,
            advance: Callable[[int], None] = lambda n: None,
            warn: Callable[[str], None] = lambda message: None) -> Summary:
    """Process this shard's ids that are not finished yet; write and return the summary."""
    from c2fbench.parallel import pool

    mine = shard.take(ids)
    summary = Summary(job.name, f"{shard.index}/{shard.count}", len(mine), options=options or {})
    pending = [i for i in mine if not all(p.is_file() for p in job.outputs(i))]
    summary.skipped_existing = len(mine) - len(pending)
    advance(summary.skipped_existing)
    remove_stale_temporaries([p for i in pending for p in job.outputs(i)])
    stats: Counter[str] = Counter(_earlier_stats(out / shard.summary_name, summary))

    def record(result: ItemResult) -> None:
        if result.stat:
            stats[result.stat] += 1
        if result.status == "done":
            summary.done += 1
            advance(1)  # after counting: an interrupt raised by a progress callback loses no event
            return
        summary.failed += 1
        if len(summary.failures) < 20:
            summary.failures.append(f"{result.id}: {result.error}")
        advance(1)
        if strict:
            raise InputError(f"{result.error} (stopping: --strict)")
        warn(f"skipped {result.error}")

    try:
        if workers > 1 and len(pending) > 1:
            with pool(min(workers, len(pending)), initializer=_init_worker, initargs=(job,)) as workers_pool:
                for result in workers_pool.imap_unordered(_process, pending, chunksize=2):
                    record(result)
        else:
            for image_id in pending:
                record(job.process(image_id))
    finally:
        summary.stats = dict(sorted(stats.items()))
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / shard.summary_name, json.dumps(asdict(summary), indent=2) + "\n")
    return summary
