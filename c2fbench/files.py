"""Guards for every file c2fbench reads from the user, and for the folders it writes: a
regular file of bounded size, and an output folder of its own.

A symlink to ``/dev/zero`` or a FIFO would otherwise be read until memory runs out or
forever. Each check raises :class:`~c2fbench.errors.InputError` naming the file before
anything is read. Images have their own guard, a bounded pixel count
(:mod:`c2fbench.data.images`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from c2fbench.errors import InputError

MAX_IMAGE_BYTES = 256 << 20
MAX_MODEL_BYTES = 16 << 30  # a checkpoint, ONNX file or engine; ResNet-101 DeepLab is 170 MB


def check_regular_file(path: str | os.PathLike, *, max_bytes: int | None = None, what: str = "file") -> int:
    """Refuse ``path`` unless it is a regular file (after symlinks) of at most ``max_bytes``
    (default :data:`MAX_IMAGE_BYTES`); return its size. Never opens the file, so a FIFO
    cannot hang it."""
    path = Path(path)
    max_bytes = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    a = "an" if what[:1] in "aeiou" else "a"
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (expected {a} {what}, found a device, pipe or folder)")
    if st.st_size > max_bytes:
        raise InputError(f"{path}: {st.st_size} bytes, more than the {max_bytes >> 20} MiB expected of {a} {what}")
    return st.st_size


def check_out_folder(out: str | os.PathLike, option: str = "--out") -> None:
    """Refuse an output folder that is the filesystem root or the current folder ("" and "."
    included): a run or a mask tree would be written among whatever lies there."""
    path = Path(os.path.abspath(out))
    if path == Path(path.anchor):
        raise InputError(f"{option} {out}: the filesystem root; give the outputs a folder of their own")
    if path == Path.cwd():
        raise InputError(f"{option} {str(out) or repr('')}: the current folder; give the outputs a folder of "
                         f"their own (e.g. {option} out)")
