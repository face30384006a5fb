"""Image trees: listing the images under a folder and reading one as RGB.

Mask commands mirror their input tree: the image ``ROOT/<rel>.<ext>`` has its outputs at
``OUT/<rel>.png``, so outputs of several runs, shards or machines merge by construction.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(root: str | os.PathLike) -> list[str]:
    """Relative paths without suffix (``<wnid>/<stem>``) of every image under ``root``, sorted.

    Hidden files and folders (names starting with ".") are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: image folder not found")
    rels = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(folder).relative_to(root)
        rels += [(base / Path(f).stem).as_posix() for f in files
                 if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    if not rels:
        raise InputError(f"{root}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
    rels.sort()
    duplicates = [a for a, b in zip(rels, rels[1:]) if a == b]
    if duplicates:
        raise InputError(f"{root}: {duplicates[0]} exists with two image suffixes; keep one")
    return rels


def find_image(root: Path, rel: str) -> Path:
    """The file of image ``rel`` under ``root`` (whatever its suffix).

    Whatever stands at that name is returned, a FIFO or a link to a device too, so that
    :func:`read_rgb` refuses it by what it is rather than as "not found"."""
    folder, stem = (root / rel).parent, Path(rel).name
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        path = folder / f"{stem}{suffix}"
        if os.path.lexists(path) and not path.is_dir():
            return path
    raise InputError(f"{root / rel}: image not found (expected one of {', '.join(IMAGE_SUFFIXES)})")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as (H, W, 3) uint8 RGB; InputError naming the file if it is missing,
    truncated, not an image, not a regular file or too large (c2fbench.data.files). PIL decodes it: unlike ``cv2.imdecode`` it raises on a
    truncated JPEG instead of returning a half-grey picture."""
    from c2fbench.data.files import decode_image

    return decode_image(path, convert="RGB")
