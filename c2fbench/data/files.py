"""Guards for every file c2fbench reads from the user: a regular file of bounded size, and
an image of bounded pixel count, decoded in one place (:func:`decode_image`).

A symlink to ``/dev/zero`` or a FIFO would otherwise be read until memory runs out or
forever, and a small PNG can declare billions of pixels (a decompression bomb). Each check
raises :class:`~c2fbench.errors.InputError` naming the file before anything is decoded.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

from c2fbench.errors import InputError

# No benchmark image comes near these: VOC's largest is 500 x 500, Object Discovery's and
# COCO's are 640 x 640. 64 megapixels is 8000 x 8000; PIL's own warning starts at about 89.
MAX_PIXELS = 64_000_000
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
    import numpy as np

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
