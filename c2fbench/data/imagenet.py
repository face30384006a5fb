"""ImageNet train folders restricted to the 20 PASCAL VOC classes.

Layout: ``ROOT/train/<wnid>/<wnid>_<n>.JPEG`` (``ROOT`` may also be the ``train`` folder
itself). Only folders whose wnid maps to a VOC class in ``voc_synsets.json`` are read;
every other folder is ignored. Each image gets the id ``<wnid>/<stem>``, which output
trees mirror (``masks/<wnid>/<stem>.png``).

The VOC -> wnid table and its sources are in ``voc_synsets.json`` next to this file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.errors import InputError
from c2fbench.jsonfile import read_json

SYNSETS_FILE = Path(__file__).with_name("voc_synsets.json")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")  # compared lower-case: ImageNet ships .JPEG
_WNID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class ImageNetSample:
    """One ImageNet training image and its VOC label."""

    path: Path  # the image file
    rel: str  # "<wnid>/<stem>": the id used by mirrored output trees
    wnid: str
    label: int  # VOC class index 1..20 (index into VOC_CLASSES)


def load_voc_synsets(
    *, include_extra: bool = False, path: Path = SYNSETS_FILE
) -> dict[str, tuple[str, ...]]:
    """VOC class name -> ImageNet wnids, in VOC order and file order.

    ``include_extra`` appends each class's ``extra_synsets`` (the debatable ones) after
    its main ``synsets``. The file is validated: the 20 VOC classes in order, wnids of
    the form ``n`` + 8 digits, no wnid in two places.
    """
    data = read_json(path, "VOC synset table", max_bytes=1 << 20)
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, dict) or list(classes) != list(VOC_CLASSES[1:]):
        found = list(classes) if isinstance(classes, dict) else None
        raise InputError(
            f"{path}: 'classes' must hold the 20 VOC classes in order "
            f"{list(VOC_CLASSES[1:])}, found {found}"
        )
    table: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, entry in classes.items():
        main = _wnid_list(path, name, entry, "synsets", required=True)
        extra = _wnid_list(path, name, entry, "extra_synsets", required=False)
        for wnid in main + extra:
            if wnid in seen:
                raise InputError(f"{path}: wnid {wnid} is listed twice ({seen[wnid]} and {name})")
            seen[wnid] = name
        table[name] = main + extra if include_extra else main
    return table


def _wnid_list(path: Path, name: str, entry: object, key: str, *, required: bool) -> tuple[str, ...]:
    """Check ``entry[key]`` is a list of wnids (non-empty when required)."""
    if not isinstance(entry, dict):
        raise InputError(f"{path}: class {name} must be an object with a 'synsets' list")
    value = entry.get(key, None if required else [])
    if not isinstance(value, list) or (required and not value):
        raise InputError(f"{path}: class {name}: '{key}' must be a non-empty list of wnids")
    for wnid in value:
        if not isinstance(wnid, str) or not _WNID.fullmatch(wnid):
            raise InputError(f"{path}: class {name}: {wnid!r} is not a wnid (expected n + 8 digits)")
    return tuple(value)


def wnid_to_voc_label(*, include_extra: bool = False) -> dict[str, int]:
    """wnid -> VOC class index 1..20, from ``load_voc_synsets``."""
    return {
        wnid: VOC_CLASSES.index(name)
        for name, wnids in load_voc_synsets(include_extra=include_extra).items()
        for wnid in wnids
    }


def find_imagenet_train(root: str | os.PathLike) -> Path:
    """Return the train folder: ``root/train``, or ``root`` itself if it holds wnid folders."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: ImageNet root not found (expected a folder holding train/<wnid>/)")
    if (root / "train").is_dir():
        return root / "train"
    if any(child.is_dir() and _WNID.fullmatch(child.name) for child in root.iterdir()):
        return root
    raise InputError(
        f"{root}: no ImageNet train folder (expected train/<wnid>/*.JPEG in it, or <wnid>/ folders directly)"
    )


def list_imagenet(
    root: str | os.PathLike,
    *,
    image_list: Path | None = None,
    include_extra: bool = False,
) -> list[ImageNetSample]:
    """The VOC-mapped images under ``root``, sorted by ``rel``.

    ``image_list`` restricts the result to the images it names, one per line, either
    ``<wnid>/<file or stem>`` or a bare ``<wnid>_<n>[.JPEG]`` (the wnid is the part
    before ``_``); blank lines and ``#`` comments are skipped.
    """
    train = find_imagenet_train(root)
    labels = wnid_to_voc_label(include_extra=include_extra)
    folders = sorted(wnid for wnid in labels if (train / wnid).is_dir())
    if not folders:
        raise InputError(
            f"{train}: none of the {len(labels)} VOC-mapped wnid folders found "
            f"(expected e.g. {train / 'n02690373'}/*.JPEG; see {SYNSETS_FILE.name})"
        )
    samples: dict[str, ImageNetSample] = {}
    for wnid in folders:
        for path in sorted((train / wnid).iterdir()):
            # a FIFO or a link to a device is listed: its reader refuses it, and the caller
            # counts and names it, instead of it vanishing here
            if path.is_dir() or path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = f"{wnid}/{path.stem}"
            if rel in samples:
                raise InputError(f"{path}: two images share the id {rel} ({samples[rel].path.name})")
            samples[rel] = ImageNetSample(path=path, rel=rel, wnid=wnid, label=labels[wnid])
    if image_list is not None:
        samples = {rel: samples[rel] for rel in _read_image_list(Path(image_list), samples, labels)}
    if not samples and image_list is not None:
        raise InputError(f"{image_list}: lists no images (expected one <wnid>/<stem> or <wnid>_<n> per line)")
    if not samples:
        raise InputError(
            f"{train}: no images in the {len(folders)} VOC-mapped wnid folders "
            f"(expected *.JPEG, *.jpeg, *.jpg or *.png files)"
        )
    return [samples[rel] for rel in sorted(samples)]


def _read_image_list(
    list_path: Path, samples: dict[str, ImageNetSample], labels: dict[str, int]
) -> list[str]:
    """The ``rel`` ids named by ``list_path``; every entry must name a listed image."""
    try:
        lines = list_path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{list_path}: cannot read image list ({exc.strerror})") from None
    rels: dict[str, None] = {}  # ordered set
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        parts = PurePosixPath(entry.replace("\\", "/")).parts
        name = parts[-1]
        wnid = parts[-2] if len(parts) > 1 else name.split("_", 1)[0]
        has_suffix = Path(name).suffix.lower() in IMAGE_SUFFIXES
        rel = f"{wnid}/{Path(name).stem if has_suffix else name}"
        sample = samples.get(rel)
        if sample is None or (has_suffix and sample.path.name != name):
            why = "wnid is not a VOC-mapped synset" if wnid not in labels else "no such image"
            raise InputError(f"{list_path}:{number}: {entry!r} names no image ({why})")
        if rel in rels:
            raise InputError(f"{list_path}:{number}: {entry!r} is listed twice")
        rels[rel] = None
    return list(rels)
