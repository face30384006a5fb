"""What a masks output folder records about itself, so that resumed runs stay honest.

``OUT/options.json``
    The job and every option that changes its outputs (:func:`job_options`): a later run
    into the same folder with different ones is refused before anything is written
    (otherwise it would skip every finished image and label them with its own options).
``OUT/events.jsonl`` (``events-K-of-N.jsonl`` when sharded)
    An append-only journal, one JSON line per attempted image: ``id``, ``status`` ("done"
    or "failed"), ``event`` (a counted event such as a GrabCut fallback, or null),
    ``error`` and ``t`` (UNIX time). The latest line of an id wins. Summaries are rebuilt
    from it, so a run killed with SIGKILL loses no event.
``OUT/failed.json`` (``failed-K-of-N.json``)
    The machine-readable list of images whose latest attempt failed, see
    :func:`write_failed` and :func:`failed_ids`.
``OUT/.lock`` (``.lock-K-of-N``)
    Held with ``flock`` while a run writes that shard (:func:`shard_lock`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

from c2fbench.atomic import atomic_write_text, default_mode, storage_error, temp_prefix
from c2fbench.errors import InputError
from c2fbench.jsonfile import parse_json, read_json

OPTIONS_FILE = "options.json"


# -- options ---------------------------------------------------------------------------------

def _identity(value, out: Path):
    """A JSON value that identifies ``value``: a file by its content hash (a retrained
    student at the same path makes other masks), a folder by its resolved path and its path
    from ``out`` (so that a run folder moved or copied whole still matches itself)."""
    if isinstance(value, Path):
        path = value.resolve()
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            return {"path": str(path), "sha256": digest.hexdigest()}
        return {"path": str(path), "from_out": os.path.relpath(path, out.resolve())}
    if isinstance(value, dict):
        return {str(k): _identity(v, out) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_identity(v, out) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def job_options(job, out: Path) -> dict:
    """``{"job": name, field: identity, ...}`` for every field of a dataclass job but its
    output folder ``out``: input folders, weights, thresholds, iterations, seeds.

    A field holding a settings dataclass (a RefineConfig) is recorded as its settings, one
    key each, or as those its metadata ``record`` names (the ones the job reads)."""
    options = {"job": job.name}
    if dataclasses.is_dataclass(job):
        for f in dataclasses.fields(job):
            value = getattr(job, f.name)
            if f.name in ("name", "out"):
                continue
            if dataclasses.is_dataclass(value):
                names = f.metadata.get("record") or [g.name for g in dataclasses.fields(value)]
                options.update({name: _identity(getattr(value, name), out) for name in names})
            else:
                options[f.name] = _identity(value, out)
    return json.loads(json.dumps(options))


def _same(stored, given) -> bool:
    if stored == given:
        return True
    if not (isinstance(stored, dict) and isinstance(given, dict)):
        return False
    if "sha256" in stored and "sha256" in given:
        return stored["sha256"] == given["sha256"]  # the same weights, wherever they lie now
    if "from_out" in stored and "from_out" in given:
        if stored["from_out"] == given["from_out"]:
            return True  # the same place beside the output folder, moved together with it
        try:
            return os.path.samefile(stored["path"], given["path"])
        except (OSError, KeyError, TypeError):
            return False
    return False


def _show(value) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('path')!r} (sha256 {value['sha256'][:12]})"
    if isinstance(value, dict) and "from_out" in value:
        return repr(value.get("path"))
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _mismatch(out: Path, stored: dict, given: dict) -> str | None:
    if stored.get("job") != given.get("job"):
        return (f"{out}: made by `c2fbench {stored.get('job')}`, not `c2fbench {given.get('job')}`; "
                f"choose another --out")
    missing = object()
    for key in [k for k in given if k != "job"] + [k for k in stored if k not in given]:
        old, new = stored.get(key, missing), given.get(key, missing)
        if old is missing or new is missing or not _same(old, new):
            old_text = "nothing" if old is missing else _show(old)
            new_text = "nothing" if new is missing else _show(new)
            return (f"{out}: made with {_flag(key)} {old_text} but this run gives {_flag(key)} {new_text} "
                    f"(see {out / OPTIONS_FILE}); rerun with the same options or choose another --out")
    return None


def _legacy_options(out: Path) -> dict | None:
    """Options from a summary written before options.json existed (scalar ones only)."""
    for path in sorted(out.glob("summary*.json")):
        try:
            summary = read_json(path, "masks summary")
        except InputError:
            continue
        if isinstance(summary, dict) and isinstance(summary.get("options"), dict) and summary.get("job"):
            scalars = {k: v for k, v in summary["options"].items() if isinstance(v, (int, float, str, bool))}
            return {"job": summary["job"], **scalars}
    return None


def _read_options(out: Path) -> dict | None:
    path = out / OPTIONS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        stored = parse_json(text, str(path))
    except InputError:
        stored = None
    if not isinstance(stored, dict):
        raise InputError(f"{path}: not the JSON object of options a masks run records; "
                         f"remove it only if you know which options made this folder")
    return stored


def check_options(out: Path, given: dict) -> None:
    """InputError naming the first option whose value differs from the one ``out`` was
    made with. Reads only."""
    stored = _read_options(out) if out.is_dir() else None
    if stored is not None:
        problem = _mismatch(out, stored, given)
    else:
        legacy = _legacy_options(out) if out.is_dir() else None
        common = [k for k in legacy or {} if k in given and not isinstance(given[k], (dict, list))]
        problem = (_mismatch(out, {k: legacy[k] for k in common}, {k: given[k] for k in common})
                   if legacy else None)
    if problem:
        raise InputError(problem)


def claim_options(out: Path, given: dict) -> None:
    """Record ``given`` in ``out/options.json`` unless a concurrent run (another shard)
    recorded its own first; then they must agree."""
    path = out / OPTIONS_FILE
    if not path.exists():
        try:
            fd, tmp = tempfile.mkstemp(dir=out, prefix=temp_prefix(OPTIONS_FILE), suffix=".tmp")
        except OSError as e:
            raise storage_error(path, e) from None
        try:
            os.fchmod(fd, default_mode())
            write_all(fd, (json.dumps(given, indent=2) + "\n").encode())
            os.fsync(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # fails if another shard got there first: never overwrite
        except OSError as e:
            raise storage_error(path, e) from None  # a full disk: no options.json, no temporary
        finally:
            os.close(fd)
            os.unlink(tmp)
    check_options(out, given)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- lock -------------------------------------------------------------------------------------

_held: set[int] = set()  # descriptors of the locks this process holds


def close_inherited_locks() -> None:
    """In a forked worker: close the lock descriptors inherited from the parent, so that
    a worker outliving a killed parent does not keep the shard locked."""
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


@contextlib.contextmanager
def shard_lock(out: Path, shard, *, instead: str = "give this one another --shard or --out") -> Iterator[None]:
    """Hold ``out/.lock[-K-of-N]`` with ``flock`` for the block; InputError naming the
    holder's pid if another run holds it (``instead``: what else to do). The lock ends with
    the process, however it ends."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = out / f".lock{shard.suffix}"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, default_mode())
    except OSError as e:
        raise storage_error(path, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            share = "this folder" if shard.count == 1 else f"shard {shard.index}/{shard.count} of this folder"
            raise InputError(f"{out}: another run is writing {share} (pid {holder}); "
                             f"wait for it to finish or {instead}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # a full disk: said here, before any image is processed
            raise storage_error(path, e) from None
        _held.add(fd)
        yield
    finally:
        _held.discard(fd)
        os.close(fd)  # releases the lock


# -- journal ----------------------------------------------------------------------------------

def read_journal(out: Path, ids: set[str]) -> dict[str, dict]:
    """The latest record of each id in ``ids`` over every journal in ``out`` (any shard
    count). Lines a kill cut short are ignored."""
    latest: dict[str, dict] = {}
    for path in sorted(out.glob("events*.jsonl")):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = parse_json(line, str(path))
            except InputError:
                continue
            if not isinstance(record, dict) or record.get("id") not in ids:
                continue
            earlier = latest.get(record["id"])
            if earlier is None or record.get("t", 0) >= earlier.get("t", 0):
                latest[record["id"]] = record
    return latest


class Journal:
    """Appends one line per result to ``out/events[-K-of-N].jsonl``, written at once.

    A write the storage refuses (a full disk) is a :class:`~c2fbench.atomic.StorageError`
    naming the journal, and the file is cut back to its last whole line: nothing
    half-written stays, and the lines before it still count on the next run."""

    def __init__(self, out: Path, shard) -> None:
        self.path = out / f"events{shard.suffix}.jsonl"
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, default_mode())
        except OSError as e:
            raise storage_error(self.path, e) from None
        try:
            size = os.fstat(self.fd).st_size
            if size and os.pread(self.fd, 1, size - 1) != b"\n":  # a kill may have cut the last line
                self._write(b"\n")  # start on a fresh one
        except BaseException:
            os.close(self.fd)
            raise

    def append(self, image_id: str, status: str, event: str | None, error: str | None) -> dict:
        record = {"id": image_id, "status": status, "event": event, "error": error, "t": time.time()}
        self._write((json.dumps(record) + "\n").encode())
        return record

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole, or leave the file as it was and raise StorageError."""
        size = os.fstat(self.fd).st_size  # this run holds the shard's lock: nobody else appends
        try:
            write_all(self.fd, data)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, size)
            raise storage_error(self.path, e) from None

    def close(self) -> None:
        """Sync and close; a sync the storage refuses is a StorageError naming the journal."""
        if self.fd < 0:
            return
        fd, self.fd = self.fd, -1
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # those: a filesystem that cannot sync
                raise storage_error(self.path, e) from None
        finally:
            os.close(fd)


# -- failed list ------------------------------------------------------------------------------

def write_failed(out: Path, shard, *, job: str, failed: list[tuple[str, str]]) -> Path:
    """``out/failed[-K-of-N].json``: ``{"job", "shard": "K/N", "failed": [{"id", "error"}]}``,
    every image of the shard whose latest attempt failed (an empty list when none)."""
    path = out / shard.failed_name
    data = {"job": job, "shard": f"{shard.index}/{shard.count}",
            "failed": [{"id": i, "error": e} for i, e in failed]}
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return path


def failed_ids(out: str | os.PathLike) -> set[str]:
    """Ids listed as failed in every ``failed*.json`` of a masks output folder, for a
    trainer to leave those images out. InputError on a malformed list."""
    ids: set[str] = set()
    for path in sorted(Path(out).glob("failed*.json")):
        try:
            data = read_json(path, "failed list")
            ids.update(entry["id"] for entry in data["failed"])
        except (InputError, KeyError, TypeError):
            raise InputError(f"{path}: expected {{'failed': [{{'id': ..., 'error': ...}}]}} "
                             f"as written by c2fbench masks") from None
    return ids
