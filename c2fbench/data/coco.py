"""COCO 2014: class names (``--classes coco``) and the ``coco-val`` benchmark's folder; the
label maps it reads are written from the instance annotations by :mod:`c2fbench.data.coco_labels`
(``c2fbench data coco-labels``).

Source: the ``categories`` list of the COCO 2014 instances annotations
(``annotations/instances_val2014.json``, also listed at https://cocodataset.org/#explore):
80 object categories whose ids run from 1 to 90 with gaps. A semantic segmentation model
numbers them 1..80 in id order, after ``background`` at index 0, as torchvision's and
DeepLab's COCO models do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from c2fbench.errors import InputError

COCO_CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"),
    (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
    (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"),
    (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"),
    (76, "keyboard"), (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"),
    (89, "hair drier"), (90, "toothbrush"),
)  # (COCO category id, name), in id order

COCO_CLASSES: tuple[str, ...] = ("background", *(name for _, name in COCO_CATEGORIES))
NUM_COCO_CLASSES = len(COCO_CLASSES)  # 81


MANIFEST = "coco_labels.json"  # written by coco_labels.write_coco_labels beside the label maps
IDS_FILE = "ids.txt"
_ID = re.compile(r"[A-Za-z0-9_.-]+")
# An id's label, ``<id>.png``, and that label's temporary name (``.<id>.png.<pid>-<random>.tmp``,
# 22 characters more) fit in a file name's 255 bytes; COCO's ids have 25.
MAX_NAME = 200


def is_image_id(name: str) -> bool:
    """Whether ``name`` can be an image id: a plain file name of letters, digits, '_', '-'
    and '.', not '.' or '..', of at most :data:`MAX_NAME` characters."""
    return len(name) <= MAX_NAME and bool(_ID.fullmatch(name)) and name not in (".", "..")


# --- the coco-val benchmark's folder -----------------------------------------------------

LABEL_FOLDERS = ("SegmentationClass/val2014", "SegmentationClass/val")
IMAGE_FOLDERS = ("val2014", "JPEGImages/val2014", "JPEGImages/val")


def find_coco_val(data_root: str | os.PathLike) -> tuple[Path, Path, list[str]]:
    """``(images folder, labels folder, ids)`` of COCO 2014 val under ``data_root``.

    ``data_root`` holds the label maps in ``SegmentationClass/val2014/`` (what ``c2fbench
    data coco-labels --out`` was given) or ``SegmentationClass/val/`` (the VOC-style layout
    ToCo's and WeCLIP's READMEs describe), and the images in ``val2014/`` (COCO's download)
    or ``JPEGImages/val2014/`` or ``JPEGImages/val/``. The images are only read when a model
    is scored. The ids are those of ``ids.txt`` when coco-labels wrote the folder (a conversion
    left unfinished is refused), else every ``*.png`` in it, sorted.
    """
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"{root}: data root not found (expected a COCO folder holding SegmentationClass/val2014/)")
    labels = next((root / f for f in LABEL_FOLDERS if (root / f).is_dir()), None)
    if labels is None:
        raise InputError(f"{root}: no COCO val labels found (expected {' or '.join(LABEL_FOLDERS)} in it; "
                         f"`c2fbench data coco-labels --out {root / LABEL_FOLDERS[0]}` writes them)")
    images = next((root / f for f in IMAGE_FOLDERS if (root / f).is_dir()), root / IMAGE_FOLDERS[0])
    return images, labels, _label_ids(labels)


def _label_ids(labels: Path) -> list[str]:
    manifest = labels / MANIFEST
    if manifest.is_file():
        from c2fbench.jsonfile import read_json_object

        try:
            complete = read_json_object(manifest, "coco-labels manifest", max_bytes=1 << 20).get("complete")
        except InputError as e:
            raise InputError(f"{e}; rerun `c2fbench data coco-labels` into {labels}") from None
        if complete is not True:
            raise InputError(f"{labels}: the conversion that writes these labels did not finish; rerun "
                             f"`c2fbench data coco-labels` with the same options to complete it")
        from c2fbench.files import check_regular_file

        path = labels / IDS_FILE
        check_regular_file(path, max_bytes=64 << 20, what="id list")
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: cannot read the id list ({e})") from None
        ids = [line.strip() for line in text.split("\n") if line.strip()]
        bad = next((i for i in ids if not is_image_id(i)), None)
        if bad is not None:
            raise InputError(f"{path}: {bad[:60]!r} is not an image id (letters, digits, '_', '-', '.'; at most "
                             f"{MAX_NAME} characters)")
        missing = [i for i in ids if not (labels / f"{i}.png").is_file()]
        if missing:
            raise InputError(f"{labels}: {len(missing)} label maps listed in {IDS_FILE} are missing (first: "
                             f"{missing[0]}.png)")
    else:
        ids = sorted(n[:-4] for n in os.listdir(labels) if n.endswith(".png") and is_image_id(n[:-4]))
    if not ids:
        raise InputError(f"{labels}: no label maps (<id>.png) in it")
    if len(set(ids)) != len(ids):
        raise InputError(f"{labels / IDS_FILE}: lists some image ids twice")
    return ids
