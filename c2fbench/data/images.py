"""Image trees: listing the images under a folder and reading one as RGB; every image file
is opened after the file guard (:func:`c2fbench.files.check_regular_file`) and a pixel
count from its header (a small PNG can declare billions of pixels: a decompression bomb),
and decoded in one place (:func:`decode_image`).

Mask commands mirror their input tree: the image ``ROOT/<rel>.<ext>`` has its outputs at
``OUT/<rel>.png``, so outputs of several runs, shards or machines merge by construction.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from c2fbench.errors import InputError
from c2fbench.files import check_regular_file

# No benchmark image comes near these: VOC's largest is 500 x 500, Object Discovery's and
# COCO's are 640 x 640. 64 megapixels is 8000 x 8000; PIL's own warning starts at about 89.
MAX_PIXELS = 64_000_000

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
    truncated, not an image, not a regular file or too large (:func:`open_image`). PIL decodes it: unlike ``cv2.imdecode`` it raises on a
    truncated JPEG instead of returning a half-grey picture."""
    return decode_image(path, convert="RGB")


def check_pixels(path: str | os.PathLike, width: int, height: int) -> None:
    """Refuse an image whose header declares more than :data:`MAX_PIXELS` pixels."""
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: {width} x {height} pixels, more than the {MAX_PIXELS:,} accepted "
                         f"(a decompression bomb or not a benchmark image)")


def open_image(path: str | os.PathLike):
    """PIL's ``Image.open`` after the file and pixel checks; the caller closes it (``with``).

    Missing, special, oversized, truncated and non-image files all become InputError.
    """
    from PIL import Image, UnidentifiedImageError

    check_regular_file(path, what="image")
    try:
        with warnings.catch_warnings():  # PIL warns from 89 Mpx: over our limit, refused below
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: more than the {MAX_PIXELS:,} pixels accepted "
                         f"(a decompression bomb or not a benchmark image)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: unreadable or corrupt image ({e})") from None
    try:
        check_pixels(path, *im.size)
    except InputError:
        im.close()
        raise
    return im


def decode_image(path: str | os.PathLike, *, png: str | None = None, convert: str | None = None, check=None):
    """The pixels of an image file as a numpy array, decoded by PIL after :func:`open_image`'s
    checks: the one decode behind every reader (``images.read_rgb``, ``png.read_label_png``,
    ``png.read_mask_png``). ``png`` names what the file must be a PNG of ("label map",
    "mask"); ``check(im)`` may refuse the opened image (its mode, say) before decoding;
    ``convert`` is a PIL mode to convert to. A truncated or corrupt file is an InputError."""
    with open_image(path) as im:
        if png is not None and im.format != "PNG":
            raise InputError(f"{path}: expected a PNG {png}, found {im.format or 'unknown'} data")
        if check is not None:
            check(im)
        try:
            return np.asarray(im.convert(convert) if convert else im)
        except (OSError, SyntaxError, ValueError) as e:
            what = "corrupt or unreadable PNG" if png is not None else "unreadable or corrupt image"
            raise InputError(f"{path}: {what} ({e})") from None
