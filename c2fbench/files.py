"""Guards for every file c2fbench reads from the user, and for the paths it writes: a
regular file of bounded size, an output folder of its own, and an output apart from every
input (:func:`check_output_apart`).

A symlink to ``/dev/zero`` or a FIFO would otherwise be read until memory runs out or
forever. Each check raises :class:`~c2fbench.errors.InputError` naming the file before
anything is read. Images have their own guard, a bounded pixel count
(:mod:`c2fbench.data.images`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
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


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of the file at ``path`` as hex, read 1 MiB at a time (a model file may be
    gigabytes). The caller guards the path first (:func:`check_regular_file`)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_out_folder(out: str | os.PathLike, option: str = "--out") -> None:
    """Refuse an output folder that is the filesystem root or the current folder ("" and "."
    included): a run or a mask tree would be written among whatever lies there."""
    path = Path(os.path.abspath(out))
    if path == Path(path.anchor):
        raise InputError(f"{option} {out}: the filesystem root; give the outputs a folder of their own")
    if path == Path.cwd():
        raise InputError(f"{option} {str(out) or repr('')}: the current folder; give the outputs a folder of "
                         f"their own (e.g. {option} out)")


def check_output_apart(out: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None],
                       option: str = "--out") -> None:
    """Refuse an output path that is one of ``inputs``, lies inside one, or holds one.

    ``inputs`` maps how the user named each input (``"--predictions"``, ``"the model"``) to
    its path (None: not given). Links are followed, so a link to an input is that input.
    Every command that writes calls this before it writes anything, with or without
    ``--force``: an archive, a results folder or a quantized model written over (or
    swapped in place of) the user's own files would destroy them. An output inside an input
    folder is refused too: a data root or a predictions folder is read as a whole, and
    results written among them would be read back as inputs on the next run.
    """
    target = Path(os.path.realpath(out))
    for name, given in inputs.items():
        if given is None or str(given) == "":
            continue
        source = Path(os.path.realpath(given))
        if target == source:
            raise InputError(f"{option} {out}: is {name} {given}; writing there would destroy it, "
                             f"so give another path")
        if source in target.parents:
            raise InputError(f"{option} {out}: lies inside {name} {given}; write the outputs outside "
                             f"the inputs")
        if target in source.parents:
            raise InputError(f"{option} {out}: holds {name} {given}, which writing there could replace; "
                             f"give a path apart from the inputs")
