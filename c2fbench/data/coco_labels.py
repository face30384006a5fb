"""COCO 2014 instance annotations -> semantic label maps (``c2fbench data coco-labels``), by
coco2voc's rule (github.com/alicranck/coco2voc, the converter ToCo's and WeCLIP's READMEs
point to for their COCO ground truth), decoded with pycocotools.

Every annotation is checked against its image before the first label is written
(:mod:`c2fbench.data.coco_segmentation`: pycocotools trusts what it is given).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from c2fbench.data.coco import COCO_CATEGORIES, IDS_FILE, MANIFEST, MAX_NAME, NUM_COCO_CLASSES, is_image_id
from c2fbench.data.coco_segmentation import check_segmentation, is_int
from c2fbench.errors import InputError

CROWD_RULES = ("class", "void")
EMPTY_RULES = ("skip", "background")
MAX_ANNOTATIONS_BYTES = 2 << 30  # instances_train2014.json is 332 MB, instances_val2014.json 160 MB
MAX_MANIFEST_BYTES = 1 << 20
FORMAT = "c2fbench coco-labels 1"
def category_index(categories, where: str) -> dict[int, int]:
    """COCO category id -> contiguous class index 1..80 (0 is background), in id order.

    The file's ``categories`` must be the 80 categories of COCO 2014 (:data:`COCO_CATEGORIES`),
    ids and names: an index is only meaningful against the 81 class names a model and the
    benchmark share."""
    if not isinstance(categories, list):
        raise InputError(f"{where}: 'categories' is not a list (expected COCO's 80 categories)")
    found = {}
    for k, cat in enumerate(categories):
        if not isinstance(cat, dict) or not is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise InputError(f"{where}: categories[{k}] is not an object with an integer 'id' and a 'name'")
        found[cat["id"]] = cat["name"]
    expected = dict(COCO_CATEGORIES)
    if found != expected:
        extra = sorted(set(found) - set(expected))
        missing = sorted(set(expected) - set(found))
        renamed = sorted(i for i in set(found) & set(expected) if found[i] != expected[i])
        detail = (f"category id {extra[0]} is not one of COCO's" if extra else
                  f"category id {missing[0]} ({expected[missing[0]]}) is missing" if missing else
                  f"category id {renamed[0]} is named {found[renamed[0]]!r}, COCO's is {expected[renamed[0]]!r}")
        raise InputError(f"{where}: not the 80 COCO 2014 categories ({detail}); expected an instances_*.json file "
                         f"of COCO 2014")
    return {cat_id: k + 1 for k, (cat_id, _) in enumerate(COCO_CATEGORIES)}


@dataclass(frozen=True)
class CocoImage:
    """One entry of ``images`` with its annotations (in file order)."""

    id: str  # the file name's stem: COCO_val2014_000000000042
    file_name: str
    height: int
    width: int
    annotations: tuple[dict, ...]


def read_instances(path: Path) -> tuple[dict[int, int], list[CocoImage]]:
    """The category index and the images (file order) of a COCO instances file, every entry
    and every annotation checked against its image: one-line InputErrors name the file and
    the entry that is not what COCO writes."""
    from c2fbench.jsonfile import read_json

    data = read_json(path, "COCO annotations file", max_bytes=MAX_ANNOTATIONS_BYTES)  # COCO nests 5 deep
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise InputError(f"{path}: expected a JSON object with 'images', 'annotations' and 'categories' lists "
                         f"(COCO instance annotations)")
    index = category_index(data.get("categories"), str(path))
    images: dict[int, dict] = {}
    names: set[str] = set()
    for k, im in enumerate(data["images"]):
        stem = _check_image_entry(im, f"{path}: images[{k}]")
        if im["id"] in images or stem in names:
            raise InputError(f"{path}: images[{k}]: image id {im['id']} or file name {im['file_name']} is listed "
                             f"twice")
        images[im["id"]] = {**im, "anns": []}
        names.add(stem)
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{k}]"
        if not isinstance(ann, dict) or not is_int(ann.get("image_id")) or not is_int(ann.get("category_id")):
            raise InputError(f"{where} is not an object with an integer 'image_id' and 'category_id'")
        where += f" (id {str(ann.get('id'))[:20]})"
        if ann["image_id"] not in images:
            raise InputError(f"{where}: image_id {ann['image_id']} is not in 'images'")
        if ann["category_id"] not in index:
            raise InputError(f"{where}: category_id {ann['category_id']} is not a COCO category")
        area = ann.get("area")
        if isinstance(area, bool) or not isinstance(area, (int, float)) or not area >= 0:
            raise InputError(f"{where}: 'area' must be a non-negative number")
        if ann.get("iscrowd", 0) not in (0, 1):
            raise InputError(f"{where}: 'iscrowd' must be 0 or 1")
        im = images[ann["image_id"]]
        check_segmentation(ann.get("segmentation"), im["height"], im["width"], f"{where}, image {im['id']}")
        im["anns"].append(ann)
    return index, [CocoImage(im["file_name"].rpartition(".")[0], im["file_name"], im["height"], im["width"],
                             tuple(im["anns"])) for im in images.values()]


def _check_image_entry(im, where: str) -> str:
    """An entry of ``images``: integer id, a plain image file name, a size within
    :data:`~c2fbench.data.images.MAX_PIXELS`. Returns the file name's stem (the image id)."""
    from c2fbench.data.images import MAX_PIXELS

    if not isinstance(im, dict) or not is_int(im.get("id")) or not isinstance(im.get("file_name"), str):
        raise InputError(f"{where} is not an object with an integer 'id' and a 'file_name'")
    where += f" (id {im['id']})"
    if not all(is_int(im.get(d)) and im[d] > 0 for d in ("height", "width")) or \
            im["height"] * im["width"] > MAX_PIXELS:
        raise InputError(f"{where}: 'height' and 'width' must be positive integers, at most {MAX_PIXELS:,} pixels "
                         f"in all")
    name = im["file_name"]
    if len(name) > MAX_NAME:
        raise InputError(f"{where}: file_name of {len(name)} characters (expected a plain image file name of at "
                         f"most {MAX_NAME})")
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix.lower() not in ("jpg", "jpeg", "png") or not is_image_id(stem):
        raise InputError(f"{where}: file_name {name[:60]!r} is not a plain image file name (letters, digits, "
                         f"'_', '-', '.'; .jpg or .png)")
    return stem


def label_map(image: CocoImage, index: dict[int, int], *, crowd: str = "class"):
    """(H, W) uint8 class indices of one image from its instance annotations.

    The rule of coco2voc (github.com/alicranck/coco2voc, the converter ToCo's and WeCLIP's
    READMEs point to for COCO ground truth): annotations are painted in order of their
    ``area``, smallest first (a stable sort, so equal areas keep file order), and a pixel keeps
    the first class painted on it, so where instances overlap the smaller one wins. Crowd
    regions (``iscrowd`` 1) are painted like any instance (``crowd="class"``, coco2voc's rule),
    or, with ``crowd="void"``, only where no instance lies, as void (255, not scored).
    Each annotation is checked against the image first (:func:`check_segmentation`).
    """
    import numpy as np
    from pycocotools import mask as mask_utils

    h, w = image.height, image.width
    label = np.zeros((h, w), dtype=np.uint8)
    ordered = sorted(image.annotations, key=lambda a: a["area"])
    if crowd == "void":
        ordered = [a for a in ordered if not a.get("iscrowd")] + [a for a in ordered if a.get("iscrowd")]
    for ann in ordered:
        segm = ann["segmentation"]
        check_segmentation(segm, h, w, f"{image.file_name}: annotation {str(ann.get('id'))[:20]}")
        try:
            if isinstance(segm, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
            elif isinstance(segm["counts"], list):
                rle = mask_utils.frPyObjects(segm, h, w)
            else:
                rle = segm
            mask = mask_utils.decode(rle)
        except Exception as e:  # checked above; pycocotools raises bare ValueError/TypeError on what it refuses
            raise InputError(f"{image.file_name}: annotation {str(ann.get('id'))[:20]} cannot be decoded "
                             f"({e})") from None
        value = 255 if crowd == "void" and ann.get("iscrowd") else index[ann["category_id"]]
        np.copyto(label, np.uint8(value), where=(mask > 0) & (label == 0))
    return label


def write_coco_labels(annotations: Path, images: Path, out: Path, *, crowd: str = "class", empty: str = "skip",
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Write ``out/<id>.png`` (VOC-palette label maps, 81 classes, background 0) for every
    image of a COCO instances file, ``out/ids.txt`` (the ids written, in file order) and
    ``out/coco_labels.json`` (the rule, counts and the annotation file's sha256).

    Every annotation is checked against its image, and each image must be in ``images`` at
    the size the annotations give: all of it before anything is written, so a refusal
    leaves ``out`` as it was. Images without any annotation are left out (``empty="skip"``,
    coco2voc's rule, which gives the WSSS papers' 40,137 val2014 images) or written as
    background (``empty="background"``: all 40,504).

    Resumable: every file is written atomically, and a rerun with the same annotations and
    rules skips the labels already written; an unfinished conversion of another file or
    rule is replaced. A finished one, or anything that is not a label, is refused.
    """
    from c2fbench.atomic import atomic_write_text, remove_stale_temporaries
    from c2fbench.data.png import write_label_png
    from c2fbench.files import check_out_folder, check_output_apart

    if crowd not in CROWD_RULES or empty not in EMPTY_RULES:
        raise ValueError(f"crowd must be one of {CROWD_RULES}, empty one of {EMPTY_RULES}")
    annotations, images, out = Path(annotations), Path(images), Path(out)
    check_out_folder(out)
    check_output_apart(out, {"--annotations": annotations, "--images": images})
    if not images.is_dir():
        raise InputError(f"{images}: images folder not found (expected COCO's val2014/ or train2014/ folder)")
    settings = {"annotations_sha256": _sha256(annotations), "crowd": crowd, "empty": empty}
    stale = _labels_out(out, settings)
    remove_stale_temporaries(out)  # a killed run's half-written label
    index, entries = read_instances(annotations)
    chosen = [im for im in entries if im.annotations or empty == "background"]
    if not chosen:
        raise InputError(f"{annotations}: " + ("no images in 'images'" if not entries else
                         f"none of its {len(entries)} images has an annotation, so --empty skip leaves nothing "
                         f"to write") + "; expected COCO instance annotations")
    for im in chosen:  # every image before any label: a refusal leaves --out as it was
        if stale or not (out / f"{im.id}.png").is_file():
            _check_image(images, im)
    for name in stale:  # an unfinished conversion of another file or rule; its manifest goes last
        (out / name).unlink()

    manifest = {"format": FORMAT, **settings, "annotations": str(annotations.resolve()),
                "rule": RULE, "num_classes": NUM_COCO_CLASSES, "images_in_file": len(entries),
                "without_annotations": sum(not im.annotations for im in entries), "complete": False}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    written = skipped = 0
    for k, im in enumerate(chosen):
        target = out / f"{im.id}.png"
        if target.is_file():
            skipped += 1
        else:
            write_label_png(target, label_map(im, index, crowd=crowd))
            written += 1
        if progress is not None:
            progress(k + 1, len(chosen))
    atomic_write_text(out / IDS_FILE, "".join(f"{im.id}\n" for im in chosen))
    manifest.update(complete=True, labels=len(chosen), written=written, resumed=skipped,
                    replaced=sum(n.endswith(".png") for n in stale))
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


RULE = ("category id -> index 1..80 in id order (0 background); annotations painted smallest area first, a pixel "
        "keeps the first class painted on it (coco2voc); crowd regions as classes or void as chosen")


def _sha256(path: Path) -> str:
    from c2fbench.files import check_regular_file, file_sha256

    check_regular_file(path, max_bytes=MAX_ANNOTATIONS_BYTES, what="COCO annotations file")
    return file_sha256(path)


def _labels_out(out: Path, settings: dict) -> list[str]:
    """Refuse an ``--out`` that holds anything but labels of an earlier coco-labels run:
    of these very settings (resumed: returns []), or of others but unfinished (returns its
    files, to be replaced). A finished conversion of other settings is the user's: refused."""
    from c2fbench.atomic import temporary_target
    from c2fbench.jsonfile import read_json

    if not out.exists():
        return []
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out takes a folder for the label maps")
    names = [n for n in os.listdir(out) if temporary_target(n) is None]  # a live run's temporaries aside
    if not names:
        return []
    foreign = sorted(n for n in names if n not in (MANIFEST, IDS_FILE) and not
                     (n.endswith(".png") and (out / n).is_file() and not (out / n).is_symlink()))
    if foreign:
        raise InputError(f"{out}: holds {foreign[0]}, which is not a label map; give a new or empty folder")
    if MANIFEST not in names:
        raise InputError(f"{out}: holds files but no {MANIFEST} of an earlier `c2fbench data coco-labels`; give a "
                         f"new or empty folder")
    try:
        recorded = read_json(out / MANIFEST, "coco-labels manifest", max_bytes=MAX_MANIFEST_BYTES)
    except InputError as e:
        raise InputError(f"{e}; give a new or empty --out folder") from None
    if not isinstance(recorded, dict) or recorded.get("format") != FORMAT:
        raise InputError(f"{out / MANIFEST}: not the manifest of a `c2fbench data coco-labels` run; give a new or "
                         f"empty folder")
    if all(recorded.get(k) == v for k, v in settings.items()):
        return []
    if recorded.get("complete") is False:
        return sorted(n for n in names if n != MANIFEST)
    raise InputError(f"{out}: holds labels made from another annotation file or with other --crowd/--empty "
                     f"rules; give a new folder (or the same file and rules to resume)")


def _check_image(images: Path, im: CocoImage) -> None:
    """The image file must exist at the size its annotations were drawn on."""
    from c2fbench.data.images import open_image

    path = images / im.file_name
    with open_image(path) as opened:
        width, height = opened.size
    if (width, height) != (im.width, im.height):
        raise InputError(f"{path}: image is {width}x{height} (WxH) but its annotations give {im.width}x{im.height}")
