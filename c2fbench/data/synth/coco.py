"""The synthetic benchmark's COCO part: the VOC val scenes again, as COCO 2014 writes them.

``COCO/val2014/COCO_val2014_<id>.jpg`` (the same JPEG bytes as the VOC copy) and
``COCO/annotations/instances_val2014.json``: every visible object as one instance, its
outline as polygons (cv2.findContours), its ``area`` that of the polygons as pycocotools
rasterises them, and COCO's 80 categories, the synthetic VOC classes under their COCO names.
Every eighth image's last object is a crowd region, stored as COCO stores crowds: an
uncompressed, column-major RLE. ``c2fbench data coco-labels`` then turns the file into the
``coco-val`` benchmark, so the COCO path runs offline end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from c2fbench.atomic import atomic_write_bytes, atomic_write_text
from c2fbench.data.coco import COCO_CATEGORIES
from c2fbench.data.voc import VOC_CLASSES

# VOC class name -> its COCO 2014 category name (same object; six are named differently)
VOC_TO_COCO = {"aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
               "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv"}
CROWD_EVERY = 8


def coco_category_id(voc_index: int) -> int:
    """The COCO category id of a VOC class index (1..20)."""
    name = VOC_CLASSES[voc_index]
    ids = {n: i for i, n in COCO_CATEGORIES}
    return ids[VOC_TO_COCO.get(name, name)]


def file_name(number: int) -> str:
    return f"COCO_val2014_{number:012d}.jpg"


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a bool mask: run lengths in column-major order, starting
    with a (possibly empty) run of zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer outlines of a bool mask as COCO polygons (flat x, y lists of 3+ points)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def instances(number: int, label: np.ndarray, inst: np.ndarray, first_id: int) -> list[dict]:
    """The annotations of one scene: one per visible object, in drawing order."""
    from pycocotools import mask as mask_utils

    h, w = label.shape
    present = [k for k in range(1, int(inst.max()) + 1) if (inst == k).any()]
    anns = []
    for k in present:
        mask = inst == k
        voc_class = int(label[mask][0])
        crowd = number % CROWD_EVERY == 0 and k == present[-1]
        if crowd:
            segm = uncompressed_rle(mask)
            area = float(mask_utils.area(mask_utils.frPyObjects(segm, h, w)))
        else:
            segm = polygons(mask)
            if not segm:
                continue
            area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(segm, h, w))))
        ys, xs = np.nonzero(mask)
        bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        anns.append({"id": first_id + len(anns), "image_id": number, "category_id": coco_category_id(voc_class),
                     "segmentation": segm, "area": area, "bbox": bbox, "iscrowd": int(crowd)})
    return anns


class CocoPart:
    """Collects the val scenes as they are written, then writes the annotations file."""

    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / "COCO"
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, name: str, jpeg: bytes, label: np.ndarray, inst: np.ndarray) -> None:
        number = int(name.rsplit("_", 1)[1])
        atomic_write_bytes(self.folder / "val2014" / file_name(number), jpeg)
        h, w = label.shape
        self.images.append({"id": number, "file_name": file_name(number), "height": h, "width": w})
        self.annotations += instances(number, label, inst, len(self.annotations) + 1)

    def write(self) -> dict:
        data = {"info": {"description": "c2fbench synthetic COCO-format part (instances, val2014 layout)"},
                "images": self.images, "annotations": self.annotations,
                "categories": [{"id": i, "name": n, "supercategory": ""} for i, n in COCO_CATEGORIES]}
        atomic_write_text(self.folder / "annotations" / "instances_val2014.json", json.dumps(data) + "\n")
        return {"images": len(self.images), "annotations": len(self.annotations),
                "crowd": sum(a["iscrowd"] for a in self.annotations)}
