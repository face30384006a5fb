"""Atomic writes: a temporary file in the target's folder, then ``os.replace``.

A run killed at any moment leaves either the old file or the complete new one, never a
partial file, so readers and resumed runs can trust whatever exists. The file gets the
mode an ordinary ``open`` would give it (0666 less the umask), not mkstemp's 0600.

Every temporary is named ``.<target>.<pid>-<random>.tmp`` (a file), ``.staging`` or
``.old`` (a folder), after the process that writes it: :func:`remove_stale_temporaries`
removes those whose process is gone, so a rerun after ``kill -9`` cleans up after the
killed run without touching a live one's.

A write the storage refuses (a full disk, a quota, a read-only or forbidden folder) is an
:class:`~c2fbench.errors.InputError` naming the file, and leaves nothing behind: not the
temporary file, and not the folders made for it (when still empty).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Iterator

from c2fbench.errors import InputError

# errno values that say the storage refused a write, not that the program is wrong
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


# a temporary whose name carries no pid (written before pids were recorded) is stale after this
STALE_AFTER_S = 60.0
_TEMP_SUFFIXES = (".tmp", ".staging", ".old")


def temp_prefix(name: str) -> str:
    """The prefix of this process's temporaries for a target called ``name``."""
    return f".{name}.{os.getpid()}-"


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(folder: bool = False) -> int:
    """The mode ``open`` (0666) or ``mkdir`` (0777) would give a new file or folder."""
    return (0o777 if folder else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    made = []
    try:
        made = make_folders(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    except OSError as e:
        remove_empty(made)
        raise storage_error(path, e) if e.errno in _STORAGE_ERRORS else e from None
    try:
        os.fchmod(fd, default_mode())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        remove_empty(made)
        if isinstance(e, OSError) and e.errno in _STORAGE_ERRORS:
            raise storage_error(path, e) from None
        raise


class StorageError(InputError):
    """A write the storage refused (``os_error``), named by the file or folder written."""

    def __init__(self, path: Path, os_error: OSError):
        super().__init__(f"{path}: could not write ({os_error.strerror or os_error}); nothing was written there")
        self.os_error = os_error
        self.path = path

    def __reduce__(self):  # a worker process's error reaches its parent whole
        return type(self), (self.path, self.os_error)


def storage_error(path: Path, e: OSError) -> StorageError:
    return StorageError(path, e.os_error if isinstance(e, StorageError) else e)


def make_folders(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it made, outermost first."""
    missing = []
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
    return list(reversed(missing))


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (from :func:`make_folders`), innermost first, where still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; on success it takes ``out``'s place in
    one step and the previous ``out`` is deleted, on any exception it is removed and ``out``
    is left as it was. Writes into a folder of results thus land as one unit: a run killed
    at any moment leaves the old folder whole (or no folder), never old files beside new.

    The swap is Linux's ``renameat2(RENAME_EXCHANGE)``; where that is missing, the old
    folder is renamed aside (kept until the new one is in place, restored if that fails).
    The staging folder gets ``mkdir``'s mode, not ``mkdtemp``'s 0700.
    """
    out = Path(os.path.abspath(out))  # "." or "a/.." has no name to stage beside
    made = []
    try:
        made = make_folders(out.parent)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=temp_prefix(out.name), suffix=".staging"))
    except OSError as e:
        remove_empty(made)
        raise storage_error(out, e) if e.errno in _STORAGE_ERRORS else e from None
    try:
        os.chmod(staging, default_mode(folder=True))
        yield staging
        _fsync_tree(staging)
        _swap(staging, out)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        remove_empty(made)
        if isinstance(e, StorageError) or isinstance(e, OSError) and e.errno in _STORAGE_ERRORS:
            raise storage_error(out, e) from None  # the folder the caller asked for, not a staged file
        raise


def _fsync_tree(folder: Path) -> None:
    for path in (*(p for p in folder.rglob("*") if p.is_dir()), folder):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _swap(staging: Path, out: Path) -> None:
    """Put the complete ``staging`` at ``out``; an older ``out`` is removed only afterwards."""
    if not out.exists() and not out.is_symlink():
        os.rename(staging, out)
    elif _exchange(staging, out):  # atomic: ``out`` is the old folder or the new one, always
        shutil.rmtree(staging)  # it now holds the old folder
    else:
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=temp_prefix(out.name), suffix=".old"))
        try:
            os.rename(out, old / "previous")
        except BaseException:
            old.rmdir()
            raise
        try:
            os.rename(staging, out)
        except BaseException:
            os.rename(old / "previous", out)
            old.rmdir()
            raise
        shutil.rmtree(old)
    with contextlib.suppress(OSError):
        fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``; False where
    the system does not offer it (then the caller renames in two steps)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # a kernel or filesystem without it
    raise OSError(code, os.strerror(code), str(b))


def temporary_target(entry: str) -> tuple[str, int | None] | None:
    """(target name, writer's pid or None) of a temporary of ours called ``entry``, or None
    when ``entry`` is not one."""
    suffix = next((s for s in _TEMP_SUFFIXES if entry.endswith(s)), None)
    if not entry.startswith(".") or suffix is None:
        return None
    stem = entry[1:-len(suffix)]
    if "." not in stem:
        return None
    name, tag = stem.rsplit(".", 1)
    pid, dash, _ = tag.partition("-")
    if dash and pid.isdigit():
        return name, int(pid)
    return name, None  # an older name: .<target>.<random>.tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, names: Iterable[str] | None = None, *,
                             older_than: float = STALE_AFTER_S) -> int:
    """Delete the temporaries of ours in ``folder`` (for the targets ``names``; all when
    None) whose writing process is gone, or, for a name without a pid, that nobody has
    touched for ``older_than`` seconds. Returns how many were removed. A live run's
    temporaries, this process's included, are never touched."""
    folder = Path(folder)
    wanted = None if names is None else set(names)
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    removed, now = 0, time.time()
    for entry in entries:
        found = temporary_target(entry)
        if found is None or (wanted is not None and found[0] not in wanted):
            continue
        path, pid = folder / entry, found[1]
        try:
            if pid is not None and (pid == os.getpid() or _alive(pid)):
                continue
            if pid is None and now - path.lstat().st_mtime < older_than:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue  # not ours to remove after all (permissions): leave it
        removed += 1
    return removed
