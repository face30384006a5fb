"""PASCAL VOC 2012 segmentation on disk.

Layout (``VOCdevkit/VOC2012``): ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png``
(palette PNG, 255 = void) and ``ImageSets/Segmentation/{train,val,trainval}.txt``.

The WSSS training set adds ``SegmentationClassAug/<id>.png`` and ``train_aug.txt``: 10,582
images, VOC 2012 train with the SBD annotations (Hariharan et al. 2011), val left out. The
layout is the one SEAM's README (github.com/YudeWang/SEAM) describes, "place them all as
``VOC2012/SegmentationClassAug/xxxxxx.png``", and PSA's (github.com/jiwoon-ahn/psa) and
SEAM's READMEs pass ``train_aug.txt`` as the image list; those labels are grayscale PNGs of
class indices (255 void), not palette PNGs, which :func:`c2fbench.data.png.read_label_png`
reads alike. Here ``train_aug.txt`` is looked for in ``ImageSets/Segmentation/``; one kept
elsewhere is given with ``--split``.
"""

from __future__ import annotations

import os
from pathlib import Path

from c2fbench.errors import InputError

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
NUM_VOC_CLASSES = len(VOC_CLASSES)
LABELS = "SegmentationClass"
AUG_LABELS = "SegmentationClassAug"  # the 10,582-image train_aug labels (see above)
# What --data-root may be, as find_voc_root searches it: VOC2012 itself or up to two levels
# above it, no further. The help texts and errors quote this, so they say what is searched.
ROOT_FORMS = "VOCdevkit/VOC2012, VOCdevkit, or the folder holding VOCdevkit"


def find_voc_root(data_root: str | os.PathLike) -> Path:
    """Return the ``VOC2012`` folder at or below ``data_root``.

    Accepts ``VOCdevkit/VOC2012`` itself, ``VOCdevkit``, or the folder holding
    ``VOCdevkit`` (:data:`ROOT_FORMS`): up to two levels above ``VOC2012``, no further.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found (expected {ROOT_FORMS})")
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    raise InputError(
        f"{root}: no VOC 2012 data found (expected ImageSets/Segmentation in it, "
        f"in VOC2012/ or in VOCdevkit/VOC2012/)"
    )


def split_path(voc_root: Path, split: str) -> Path:
    """``ImageSets/Segmentation/<split>.txt``."""
    return voc_root / "ImageSets" / "Segmentation" / f"{split}.txt"


def read_split(voc_root: Path, split: str) -> list[str]:
    """Image ids listed in ``ImageSets/Segmentation/<split>.txt`` (:func:`c2fbench.data.ids.read_id_list`)."""
    from c2fbench.data.ids import read_id_list

    return read_id_list(split_path(voc_root, split), what="split file")


def image_path(voc_root: Path, image_id: str) -> Path:
    return voc_root / "JPEGImages" / f"{image_id}.jpg"


def label_path(voc_root: Path, image_id: str, folder: str = LABELS) -> Path:
    """``<folder>/<id>.png``: ``SegmentationClass`` or ``SegmentationClassAug`` (:data:`AUG_LABELS`)."""
    return voc_root / folder / f"{image_id}.png"
