"""The checks a COCO annotation's ``segmentation`` passes before pycocotools decodes it.

pycocotools trusts what it is given: a polygon far outside the image kills the process
(``rleFrPoly`` scales coordinates into C ints and allocates a point per unit of edge), and
an RLE is decoded at its own ``size`` and run lengths, whatever the image's. So polygon
coordinates must lie within :data:`POLYGON_MARGIN` of the image and trace at most
:data:`MAX_POLYGON_POINTS` boundary points, and an RLE's ``size`` must be the image's and
its run lengths tile it exactly.
"""

from __future__ import annotations

import math

from c2fbench.errors import InputError

# A polygon's x may lie up to one image width outside the image, its y one image height
# (COCO's own polygons stray by under a pixel; pycocotools clips what lies outside).
POLYGON_MARGIN = 1.0
# rleFrPoly walks each edge at 5x scale, one point per unit (about 16 bytes each at its
# peak): 10 million points is 160 MB, and a COCO polygon needs a few thousand.
MAX_POLYGON_POINTS = 10_000_000


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_segmentation(segm, height: int, width: int, where: str) -> None:
    """An annotation's ``segmentation`` must be what pycocotools can decode at the image's
    size without harm: a non-empty list of polygons, or an RLE object of the image's size
    (see :func:`check_polygon` and :func:`rle_counts`)."""
    if isinstance(segm, list) and segm:
        for j, polygon in enumerate(segm):
            check_polygon(polygon, height, width, f"{where}: polygon {j}")
    elif isinstance(segm, dict) and "size" in segm and "counts" in segm:
        rle_counts(segm, height, width, where)
    else:
        raise InputError(f"{where}: 'segmentation' is neither polygons (lists of x, y coordinates) nor an RLE object "
                         f"with 'size' and 'counts'")


def check_polygon(polygon, height: int, width: int, where: str) -> None:
    """A flat list ``[x0, y0, x1, y1, ...]`` of 3 or more points, every coordinate a number
    within :data:`POLYGON_MARGIN` of the image, tracing at most :data:`MAX_POLYGON_POINTS`
    points in pycocotools' ``rleFrPoly``."""
    if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
        found = f"{len(polygon)} coordinates" if isinstance(polygon, list) else type(polygon).__name__
        raise InputError(f"{where}: {found} (expected a list of x, y coordinates of 3 or more points: an even "
                         f"number, at least 6)")
    if not set(map(type, polygon)) <= {int, float}:  # bool and str are not numbers
        bad = next(v for v in polygon if type(v) not in (int, float))
        raise InputError(f"{where}: coordinate {str(bad)[:30]!r} is not a number")
    mx, my = POLYGON_MARGIN * width, POLYGON_MARGIN * height
    xs, ys = polygon[0::2], polygon[1::2]
    try:  # builtins, not a loop: a COCO file holds millions of coordinates
        fits = math.isfinite(math.fsum(polygon)) and -mx <= min(xs) and max(xs) <= width + mx and \
            -my <= min(ys) and max(ys) <= height + my
    except OverflowError:  # an integer past a float's range
        fits = False
    for axis, values, low, high in (("x", xs, -mx, width + mx), ("y", ys, -my, height + my)):
        if not fits and not all(low <= v <= high for v in values):  # NaN and infinities fail too
            v = next(v for v in values if not low <= v <= high)
            raise InputError(f"{where}: {axis} = {str(v)[:30]} lies outside the {width}x{height} image (WxH) by "
                             f"more than the margin allowed (x from {-mx:g} to {width + mx:g}, y from {-my:g} to "
                             f"{height + my:g}: one image width or height either side)")
    span = 5 * (1 + 2 * POLYGON_MARGIN) * max(height, width) + 2  # an edge's points at most, at 5x scale
    if len(polygon) // 2 * span > MAX_POLYGON_POINTS:
        points = _polygon_points(polygon)
        if points > MAX_POLYGON_POINTS:
            raise InputError(f"{where}: traces {points:,} boundary points at pycocotools' 5x scale, more than the "
                             f"{MAX_POLYGON_POINTS:,} allowed (expected an object's outline, not a scribble)")


def _polygon_points(polygon: list) -> int:
    """How many points pycocotools' ``rleFrPoly`` allocates for ``polygon``: coordinates
    times 5 rounded as C does (``(int)(5 * x + .5)``), then max(|dx|, |dy|) + 1 per edge of
    the closed outline."""
    import numpy as np

    xy = np.trunc(np.asarray(polygon, dtype=np.float64).reshape(-1, 2) * 5 + 0.5).astype(np.int64)
    return int((np.abs(xy - np.roll(xy, -1, axis=0)).max(axis=1) + 1).sum())


def rle_counts(rle: dict, height: int, width: int, where: str) -> list[int]:
    """The run lengths of an RLE ``{"size": [h, w], "counts": ...}`` of a ``height`` x
    ``width`` image: ``size`` must be ``[height, width]``, and the counts (a list, or COCO's
    compressed string) non-negative lengths that sum to ``height * width`` exactly, checked
    before pycocotools reads them (it decodes at ``size``, and trusts the counts)."""
    size = rle["size"]
    if not isinstance(size, list) or len(size) != 2 or not all(is_int(v) for v in size):
        raise InputError(f"{where}: RLE 'size' {str(size)[:40]} is not [height, width] in integers")
    if size != [height, width]:
        raise InputError(f"{where}: RLE 'size' {size} is not the image's [height, width], [{height}, {width}]")
    counts = rle["counts"]
    if isinstance(counts, bytes):  # pycocotools' own encode() gives bytes; JSON gives str
        counts = counts.decode("latin-1")
    if isinstance(counts, str):
        counts = _decompress_counts(counts, where)
    elif not isinstance(counts, list):
        raise InputError(f"{where}: RLE 'counts' is neither a list of run lengths nor a compressed string")
    bad = next((k for k, c in enumerate(counts) if not is_int(c) or c < 0), None)
    if bad is not None:
        raise InputError(f"{where}: RLE run length {bad} is {str(counts[bad])[:30]} (expected a non-negative "
                         f"integer)")
    if sum(counts) != height * width:
        raise InputError(f"{where}: RLE run lengths sum to {sum(counts)}, expected height x width = "
                         f"{height * width}")
    return counts


def _decompress_counts(text: str, where: str) -> list[int]:
    """COCO's compressed RLE string as run lengths (as pycocotools' ``rleFrString`` reads
    it): each length is 5-bit groups, low first, in characters '0' + value (0x20: another
    group follows; 0x10 in the last group: negative); from the fourth length on, each is a
    difference from the length two before. A length of more than 7 groups (35 bits) or a
    string that ends inside one is refused: the C code would read past it."""
    counts: list[int] = []
    value = shift = 0
    for k, char in enumerate(text):
        c = ord(char) - 48
        if not 0 <= c < 64 or shift == 35:
            problem = f"character {k}, {char!r}, is outside '0'..'o'" if not 0 <= c < 64 else \
                f"run length {len(counts)} runs past 7 characters"
            raise InputError(f"{where}: RLE 'counts' is not a compressed COCO string ({problem})")
        value |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            value -= 1 << shift
        counts.append(value + counts[-2] if len(counts) > 2 else value)
        value = shift = 0
    if shift:
        raise InputError(f"{where}: RLE 'counts' is not a compressed COCO string (it ends inside a run length)")
    return counts
