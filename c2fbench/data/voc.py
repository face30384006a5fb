"""PASCAL VOC 2012 segmentation on disk.

Layout (``VOCdevkit/VOC2012``): ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png``
(palette PNG, 255 = void) and ``ImageSets/Segmentation/{train,val,trainval}.txt``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from c2fbench.errors import InputError

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
NUM_VOC_CLASSES = len(VOC_CLASSES)


def find_voc_root(data_root: str | os.PathLike) -> Path:
    """Return the ``VOC2012`` folder at or below ``data_root``.

    Accepts ``VOCdevkit/VOC2012`` itself, ``VOCdevkit``, or any folder holding
    ``VOCdevkit/VOC2012``.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found (expected VOCdevkit/VOC2012 or a folder above it)")
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    raise InputError(
        f"{root}: no VOC 2012 data found (expected ImageSets/Segmentation in it, "
        f"in VOC2012/ or in VOCdevkit/VOC2012/)"
    )


_ID = re.compile(r"[A-Za-z0-9_.-]+")


def read_split(voc_root: Path, split: str) -> list[str]:
    """Image ids listed in ``ImageSets/Segmentation/<split>.txt``, in file order.

    The file is UTF-8 (a byte-order mark is skipped). An id is a plain file name stem:
    letters, digits, ``_``, ``-`` and ``.``, but not ``.`` or ``..``; a path (``/abs``,
    ``../x``) would make eval read outside the data and prediction folders, so it is
    refused with its line number.
    """
    from c2fbench.files import check_regular_file

    path = voc_root / "ImageSets" / "Segmentation" / f"{split}.txt"
    check_regular_file(path, max_bytes=64 << 20, what="split file")  # VOC's trainval.txt is 32 kB
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line} is not UTF-8 (byte 0x{raw[e.start]:02x}); expected one image id "
                         f"per line") from None
    ids = []
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only: str.splitlines also splits at U+2028
        image_id = line.strip()
        if not image_id:
            continue
        if not _ID.fullmatch(image_id) or image_id in (".", ".."):
            raise InputError(f"{path}: line {number}: {image_id[:60]!r} is not an image id (expected a plain name "
                             f"of letters, digits, '_', '-', '.', without folders)")
        ids.append(image_id)
    if not ids:
        raise InputError(f"{path}: split file is empty (expected one image id per line)")
    if len(set(ids)) != len(ids):
        raise InputError(f"{path}: split lists some image ids twice")
    return ids


def image_path(voc_root: Path, image_id: str) -> Path:
    return voc_root / "JPEGImages" / f"{image_id}.jpg"


def label_path(voc_root: Path, image_id: str) -> Path:
    return voc_root / "SegmentationClass" / f"{image_id}.png"
