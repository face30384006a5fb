"""Run one job over a mirrored image tree: sharded, parallel, resumable, counted.

A job maps each image id (``<wnid>/<stem>``) to output files ``OUT/<id>.png``. The runner

- takes this process's share of the ids: ``--shard K/N`` (K = 0..N-1, for job arrays), or
  ``RANK`` / ``WORLD_SIZE`` when launched under ``torchrun``; outputs merge by construction;
- refuses an output folder made with other options (``OUT/options.json``) and a shard that
  another live run is writing (``OUT/.lock-K-of-N``), before writing anything;
- journals every result as it arrives (``OUT/events.jsonl``, see record.py) and skips ids
  whose outputs all exist and whose journal says done (every output is written atomically,
  so an existing file is a finished one; an output whose journal line a kill lost is made
  again, identically); removes temporaries a killed run left for its ids;
- spreads the rest over worker processes, each id's result independent of the others;
- reports unreadable inputs by name and goes on (``strict`` stops at the first), listing
  them in ``OUT/failed.json``;
- writes ``summary.json`` (``summary-K-of-N.json`` when sharded), atomically, rebuilt from
  the journal: ``finished``, ``failed`` and ``stats`` (events such as fallbacks or dropped
  images) count every image of the share, whichever call (killed or not) did it; ``done``
  and ``skipped_existing`` count this call.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from c2fbench.atomic import atomic_write_text, remove_stale_temporaries, storage_error
from c2fbench.errors import InputError

@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise InputError(f"shard {self.index}/{self.count}: expected K/N with 0 <= K < N, e.g. 0/4")

    @classmethod
    def resolve(cls, option: str | None) -> "Shard":
        """``--shard K/N`` if given, else torchrun's RANK/WORLD_SIZE, else the whole set."""
        if option is not None:  # "" too: an empty --shard is a mistake, not "no shard"
            match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", option)
            if not match or not 0 <= int(match[1]) < int(match[2]):
                raise InputError(f"--shard {option!r}: expected K/N with 0 <= K < N, e.g. 0/4")
            return cls(int(match[1]), int(match[2]))
        # as train's torchrun_env: RANK unset is one process; RANK without WORLD_SIZE is RANK of 1
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE", "1")
        if rank is not None:
            if not (rank.strip().isdigit() and world.strip().isdigit() and 0 <= int(rank) < int(world)):
                raise InputError(f"RANK={rank!r} WORLD_SIZE={world!r}: expected integers with "
                                 f"0 <= RANK < WORLD_SIZE, as torchrun sets them")
            return cls(int(rank), int(world))
        return cls()

    def take(self, ids: list[str]) -> list[str]:
        return ids[self.index::self.count]

    @property
    def suffix(self) -> str:
        return "" if self.count == 1 else f"-{self.index}-of-{self.count}"

    @property
    def summary_name(self) -> str:
        return f"summary{self.suffix}.json"

    @property
    def failed_name(self) -> str:
        return f"failed{self.suffix}.json"


@dataclass
class ItemResult:
    id: str
    status: str  # "done" or "failed"
    stat: str | None = None  # a counted event, e.g. a GrabCut fallback
    error: str | None = None


class Job(Protocol):
    """What the runner needs of a job; jobs are frozen dataclasses, pickled to workers once.
    Their fields (but ``out`` and ``name``) are the options recorded in ``OUT/options.json``."""

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
    total: int  # images of this share
    done: int = 0  # made by this call
    skipped_existing: int = 0  # finished by an earlier call
    failed: int = 0  # images of this share whose latest attempt failed (listed in failed_list)
    finished: int = 0  # images of this share with their outputs, over all calls
    stats: dict[str, int] = field(default_factory=dict)  # events of the finished images, over all calls
    failures: list[str] = field(default_factory=list)  # the first few, "id: message"
    failed_list: str = "failed.json"
    options: dict = field(default_factory=dict)


_job: Job | None = None


def _init_worker(job: Job) -> None:
    global _job
    import cv2

    from c2fbench.masks.record import close_inherited_locks

    close_inherited_locks()
    cv2.setNumThreads(1)
    _job = job


def _process(image_id: str) -> ItemResult:
    return _job.process(image_id)


def check_outputs_apart(job: Job, out: Path) -> None:
    """Refuse an output folder (``out``, a coarse job's ``soft_out``) that is an input of
    ``job`` (a folder or a file such as the student's weights), lies inside one or holds one:
    its PNGs would overwrite the inputs or be read as them. ``--soft-out`` is kept apart
    from ``--out`` the same way."""
    import dataclasses

    from c2fbench.files import check_output_apart

    if not dataclasses.is_dataclass(job):
        return
    inputs = {f"--{f.name.replace('_', '-')}": getattr(job, f.name) for f in dataclasses.fields(job)
              if f.name not in ("out", "soft_out") and isinstance(getattr(job, f.name), Path)}
    check_output_apart(out, inputs)
    soft_out = getattr(job, "soft_out", None)
    if soft_out is not None:
        check_output_apart(soft_out, {**inputs, "--out": out}, option="--soft-out")


def run_job(job: Job, ids: list[str], *, out: Path, shard: Shard = Shard(), workers: int = 1,
            strict: bool = False, options: dict | None = None,
            advance: Callable[[int], None] = lambda n: None,
            warn: Callable[[str], None] = lambda message: None) -> Summary:
    """Process this shard's ids that are not finished yet; write and return the summary.

    ``options`` adds to the job's own (:func:`~c2fbench.masks.record.job_options`).
    InputError, before anything is written, if ``out`` was made with other options or
    another run holds this shard.
    """
    from c2fbench.masks import record
    from c2fbench.parallel import pool

    check_outputs_apart(job, out)
    mine = shard.take(ids)
    given = {**record.job_options(job, out), **json.loads(json.dumps(options or {}, default=str))}
    record.check_options(out, given)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise storage_error(out, e) from None
    with record.shard_lock(out, shard):
        record.claim_options(out, given)
        latest = record.read_journal(out, set(mine))
        finished = {i for i in mine if latest.get(i, {}).get("status") == "done"
                    and all(p.is_file() for p in job.outputs(i))}
        pending = [i for i in mine if i not in finished]
        summary = Summary(job.name, f"{shard.index}/{shard.count}", len(mine), skipped_existing=len(finished),
                          failed_list=shard.failed_name, options=given)
        advance(summary.skipped_existing)
        by_folder: dict[Path, set[str]] = {}
        for path in (p for i in pending for p in job.outputs(i)):
            by_folder.setdefault(path.parent, set()).add(path.name)
        for folder, names in by_folder.items():
            remove_stale_temporaries(folder, names)
        journal = record.Journal(out, shard)

        def note(result: ItemResult) -> None:
            latest[result.id] = journal.append(result.id, result.status, result.stat, result.error)
            if result.status == "done":
                finished.add(result.id)
                summary.done += 1
                advance(1)  # after the journal line: an interrupt raised by a progress callback loses no event
                return
            finished.discard(result.id)
            advance(1)
            if strict:
                raise InputError(f"{result.error} (stopping: --strict)")
            warn(f"skipped {result.error}")

        try:
            if workers > 1 and len(pending) > 1:
                with pool(min(workers, len(pending)), initializer=_init_worker, initargs=(job,)) as workers_pool:
                    for result in workers_pool.imap_unordered(_process, pending, chunksize=2):
                        note(result)
            else:
                for image_id in pending:
                    note(job.process(image_id))
        except BaseException:
            # the first error is the one to report: on a full disk the summary fails too
            with contextlib.suppress(InputError, OSError):
                journal.close()
            with contextlib.suppress(InputError, OSError):
                _finish(summary, out, shard, mine, latest, finished)
            raise
        journal.close()
        _finish(summary, out, shard, mine, latest, finished)
    return summary


def _finish(summary: Summary, out: Path, shard: Shard, mine: list[str], latest: dict[str, dict],
            finished: set[str]) -> None:
    """Rebuild the counts from the journal's latest records; write failed list and summary."""
    from c2fbench.masks import record

    failed = [(i, latest[i].get("error") or "failed") for i in mine
              if i not in finished and latest.get(i, {}).get("status") == "failed"]
    summary.finished = len(finished)
    summary.failed = len(failed)
    summary.failures = [f"{i}: {e}" for i, e in failed[:20]]
    summary.stats = dict(sorted(Counter(latest[i]["event"] for i in finished if latest[i].get("event")).items()))
    record.write_failed(out, shard, job=summary.job, failed=failed)
    atomic_write_text(out / shard.summary_name, json.dumps(asdict(summary), indent=2) + "\n")


def failure_message(summary: Summary, out: Path) -> str | None:
    """The one-line error for a call in which every image of the share failed (none
    finished), else None: such a run must not report success."""
    if summary.failed == 0 or summary.finished > 0:
        return None
    first = summary.failures[0] if summary.failures else ""
    every = f"all {summary.failed} images" if summary.failed != 1 else "its one image"
    return (f"{summary.job}: {every} failed, listed in {out / summary.failed_list} "
            f"(first: {first})")
