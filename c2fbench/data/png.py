"""PNG I/O: the one place that reads and writes class-index maps and foreground masks.

VOC label PNGs are palette ("P" mode) images whose pixel values are class indices; they
must be read with PIL, never ``cv2.imread`` (which returns the palette colours). 255 is
void. Grayscale ("L") PNGs of class indices are accepted too; colour PNGs are refused.
Foreground masks (Object Discovery's ground truth, coarse and enhanced masks, MIT
predictions) are written as 0/255 grayscale and read by :func:`read_mask_png`, which also
takes the colour renderings people save. Decoding goes through
:func:`c2fbench.data.images.decode_image`.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import numpy as np
from c2fbench.atomic import atomic_write_bytes
from c2fbench.errors import InputError

VOID = 255
# How to write what read_label_png reads: a colour rendering cannot be turned back into class
# indices in one line (each colour must be looked up in the palette), so the fix is upstream.
SAVE_HINT = ("save class indices as a single-channel PNG: "
             "Image.fromarray(index_array.astype(np.uint8)).save(path)")


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map, from the devkit's bit-interleaving formula.

    Returns (n, 3) uint8: for label ``i`` and bit plane ``j`` (0..7), bit 0 of ``i`` goes to
    red at position ``7 - j``, bit 1 to green, bit 2 to blue, then ``i >>= 3``.

    >>> voc_colormap()[[0, 1, 20, 255]].tolist()
    [[0, 0, 0], [128, 0, 0], [0, 64, 128], [224, 224, 192]]
    """
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for label in range(n):
        rgb = [0, 0, 0]
        c = label
        for j in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - j)
            c >>= 3
        cmap[label] = rgb
    return cmap


_PALETTE = voc_colormap().flatten().tolist()


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel PNG of class indices as (H, W) uint8.

    Raises InputError naming the file if it is missing, not a PNG, corrupt, or a colour
    image (an RGB rendering of a palette is the most common mistake).
    """
    from c2fbench.files import check_regular_file

    path = Path(path)
    check_regular_file(path, what="PNG label map")
    try:
        fast = _decode_unfiltered_png(path, path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return fast if fast is not None else _read_with_pil(path)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode_unfiltered_png(path: Path, data: bytes) -> np.ndarray | None:
    """Fast path for the common label PNG: 8-bit palette or grayscale, not interlaced, and
    every row stored with filter type 0 ("none", which libpng and PIL choose for palette
    images). Returns None for anything else, or anything odd, and PIL takes over. The
    declared size is checked before inflating, and inflating stops at that size.

    Why: PNG decoding dominates evaluation, and zlib-ng inflates these highly compressible
    maps about 20x faster than zlib (benchmarks/eval_throughput.py).
    """
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth != 8 or colour not in (0, 3) or interlace or not width or not height:
        return None
    from c2fbench.data.images import check_pixels

    check_pixels(path, width, height)
    parts, pos = [], 8
    while pos + 8 <= len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        if pos + 12 + length > len(data):
            return None
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        return None  # no IEND: truncated
    from zlib_ng import zlib_ng

    expected = height * (width + 1)
    try:
        inflate = zlib_ng.decompressobj()
        raw = inflate.decompress(b"".join(parts), expected + 1)
    except zlib_ng.error:
        return None
    if len(raw) != expected or inflate.unconsumed_tail:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None
    return np.ascontiguousarray(rows[:, 1:])


def _read_with_pil(path: Path) -> np.ndarray:
    from c2fbench.data.images import decode_image

    def single_channel(im) -> None:
        if im.mode not in ("P", "L"):
            raise InputError(f"{path}: expected a single-channel (palette or grayscale) PNG of class "
                             f"indices, found mode {im.mode}; {SAVE_HINT}")
    return decode_image(path, png="label map", check=single_channel)


def encode_label_png(label: np.ndarray) -> bytes:
    """Encode (H, W) uint8 class indices as a VOC-palette PNG."""
    from PIL import Image

    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f"label map must be (H, W) uint8, got {label.shape} {label.dtype}")
    im = Image.frombytes("P", (label.shape[1], label.shape[0]), np.ascontiguousarray(label).tobytes())
    im.putpalette(_PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_label_png(path: str | os.PathLike, label: np.ndarray) -> None:
    """Write (H, W) uint8 class indices as a VOC-palette PNG, atomically."""
    atomic_write_bytes(path, encode_label_png(label))


def encode_gray_png(values: np.ndarray) -> bytes:
    """Encode (H, W) uint8 values as a grayscale ("L") PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(values, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """Encode an (H, W) foreground mask as a grayscale 0/255 PNG."""
    return encode_gray_png(np.where(np.asarray(mask) > 0, 255, 0).astype(np.uint8))


def write_mask_png(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write an (H, W) foreground mask as a 0/255 grayscale PNG, atomically."""
    atomic_write_bytes(path, encode_mask_png(mask))


def read_mask_png(path: str | os.PathLike, *, threshold: float | None = None) -> np.ndarray:
    """Read a foreground mask PNG as (H, W) bool: nonzero is foreground.

    Grayscale and palette PNGs: a nonzero value (palette index) is foreground. Colour PNGs
    are scored on their colour: black is background, any other colour foreground. Alpha
    (RGBA, LA) is never read as the mask: ``matplotlib.pyplot.imsave`` writes RGBA with
    alpha 255 everywhere, and reading alpha as foreground turned a perfect mask into J 25.

    Refused, rather than guessed (InputError naming the file):

    - a mask carried by alpha alone (transparency varies, the colour is uniform);
    - a colour rendering with no black pixel and several colours, such as ``plt.imsave``'s
      default viridis colormap, where background is purple (save with ``cmap="gray"``).

    With ``threshold`` (in [0, 1]), the PNG is a soft map instead: 8-bit values at or above
    ``threshold * 255`` (16-bit: ``* 65535``) are foreground; it must be grayscale (a
    colour PNG whose three channels are equal counts as grayscale).
    """
    from c2fbench.data.images import decode_image

    path = Path(path)
    a = decode_image(path, png="mask")
    if a.ndim == 3:
        a = _colour_channels(path, a)
    if threshold is not None:
        if a.ndim == 3:
            raise InputError(f"{path}: a soft map must be a grayscale PNG, found colours")
        scale = 65535 if a.dtype == np.uint16 or a.max(initial=0) > 255 else 255
        return a >= threshold * scale
    if a.ndim == 2:
        return a > 0
    fg = a.any(axis=2)
    if not fg.all() or a.shape[0] * a.shape[1] == 0:
        return fg
    if (a.reshape(-1, a.shape[2]) != a[0, 0]).any():
        raise InputError(f"{path}: colour mask with no black (background) pixel and several colours, like a "
                         f"colormap rendering; expected nonzero = foreground on black (plt.imsave(..., cmap='gray'))")
    return fg


def _colour_channels(path: Path, a: np.ndarray) -> np.ndarray:
    """(H, W, k) pixels without alpha: (H, W) when the colour channels are equal (gray), else (H, W, 3)."""
    colour, alpha = (a[..., :-1], a[..., -1]) if a.shape[2] in (2, 4) else (a, None)
    if alpha is not None and colour.size and (alpha != alpha.max(initial=0)).any() and \
            (colour.reshape(-1, colour.shape[2]) == colour.reshape(-1, colour.shape[2])[0]).all():
        raise InputError(f"{path}: the mask is in the alpha channel only (uniform colour, varying transparency); "
                         f"expected the mask in the colour or gray values, nonzero = foreground")
    if colour.shape[2] == 1 or (colour == colour[..., :1]).all():
        return colour[..., 0]
    return colour
