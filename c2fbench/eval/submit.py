"""The PASCAL VOC 2012 test set: a submission archive for the evaluation server.

The test set ships images without labels; its numbers (the paper's "test" column) come
from the evaluation server, which scores an archive of indexed PNGs laid out as the
devkit's ``VOCinit.m`` names them::

    results/VOC2012/Segmentation/<comp>_test_cls/<id>.png

(``VOCopts.resdir`` is ``results/VOC2012/``, ``VOCopts.seg.clsresdir`` is ``[resdir
'Segmentation/%s_%s_cls']`` filled with the competition and the test set; the devkit
documentation, devkit_doc.pdf section 5.3 "Submission of Results", describes the
submission; sources in docs/reference/eval-anchors.md). comp5 is a method trained on VOC
data only, comp6 one trained with outside data, which the ImageNet image-level labels of
this pipeline are. Each PNG is a palette image in the VOC
colour map, at its image's size, with class indices 0..20 on every pixel: the server has
no use for void (255), which only ground truth carries.

Everything is checked before the archive appears: the ids against ``test.txt`` (missing
and extra files), each prediction's size against its JPEG's header, and its values. The
archive is written to a temporary file beside ``out`` and renamed into place, so a
refused input, a full disk or Ctrl-C leaves ``out`` as it was; the temporary of a run killed
outright (``kill -9``) is removed by the next run. ``out`` is never one of the inputs, inside
their folders or a link to one of them (:func:`c2fbench.files.check_output_apart`), with or
without ``--force``.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from c2fbench.data.voc import NUM_VOC_CLASSES
from c2fbench.errors import InputError

COMPETITIONS = ("comp5", "comp6")  # trained on VOC data only / with outside data (ImageNet labels: comp6)
RESULTS_DIR = "results/VOC2012/Segmentation"


@dataclass(frozen=True)
class VocTestSubmission:
    """A checked plan of a submission (:func:`plan_voc_test_submission`): every test id has
    its prediction file; sizes and values are checked as :func:`write_submission` packs them."""

    voc_root: Path
    ids: list[str]  # test.txt's order, which is the archive's
    predictions: Path
    out: Path
    folder: str  # "results/VOC2012/Segmentation/comp6_test_cls"


def member_folder(competition: str) -> str:
    """The folder the server reads, ``results/VOC2012/Segmentation/<comp>_test_cls``."""
    if competition not in COMPETITIONS:
        raise InputError(f"competition {competition!r}: expected one of {', '.join(COMPETITIONS)}")
    return f"{RESULTS_DIR}/{competition}_test_cls"


def check_out_file(out: Path, *, force: bool = False) -> None:
    """Refuse an ``out`` that is a folder, lies in a folder that does not exist, or exists
    already without ``force`` (a submission is a deliverable: replaced only on request)."""
    if out.is_dir():
        raise InputError(f"--out {out}: a folder; expected the archive's file name (e.g. submission.tar.gz)")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} not found (create it first)")
    if (out.exists() or out.is_symlink()) and not force:
        raise InputError(f"--out {out}: exists already (pass --force to replace it)")


def check_prediction_ids(predictions: Path, ids: list[str], split_file: Path) -> None:
    """Refuse a predictions folder without ``<id>.png`` for every test id, or with PNGs
    for images outside the test set. Other files and subfolders are not looked at."""
    if not predictions.is_dir():
        raise InputError(f"{predictions}: predictions folder not found")
    present = {name[:-4] for name in os.listdir(predictions) if name.endswith(".png") and not name.startswith(".")}
    missing = [i for i in ids if i not in present]
    if missing:
        raise InputError(f"{predictions}: {len(missing)} of {len(ids)} predictions missing "
                         f"(first: {', '.join(missing[:3])}; expected <id>.png for every id of {split_file})")
    extra = sorted(present - set(ids))
    if extra:
        files = "1 PNG file is" if len(extra) == 1 else f"{len(extra)} PNG files are"
        raise InputError(f"{predictions}: {files} not in {split_file} "
                         f"(first: {', '.join(f'{i}.png' for i in extra[:3])}; a submission holds the test ids only)")


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) of an image from its header, without decoding the pixels."""
    from c2fbench.data.images import open_image

    with open_image(path) as im:
        return im.size


def checked_prediction(path: Path, image_id: str, size: tuple[int, int]) -> np.ndarray:
    """The (H, W) uint8 class indices of ``path``, refused unless at ``size`` (W, H) with values 0..20."""
    from c2fbench.data.png import VOID, read_label_png

    pred = read_label_png(path)
    if (pred.shape[1], pred.shape[0]) != size:
        raise InputError(f"{path}: prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but image {image_id} is "
                         f"{size[0]}x{size[1]}; the server expects each image's own size")
    high = int(pred.max(initial=0))
    if high >= NUM_VOC_CLASSES:
        what = "void, which the server does not take: predict a class on every pixel" if high == VOID else \
            "not a VOC class"
        raise InputError(f"{path}: value {high} ({what}); expected class indices 0..{NUM_VOC_CLASSES - 1}")
    return pred


def plan_voc_test_submission(data_root: str | os.PathLike, predictions: str | os.PathLike,
                              out: str | os.PathLike, *, competition: str = "comp6",
                              force: bool = False) -> VocTestSubmission:
    """Check ``out``, find VOC 2012's ``test.txt`` under ``data_root`` and check that
    ``predictions`` holds ``<id>.png`` for exactly its ids. Raises InputError naming the
    file on any bad input; writes nothing."""
    from c2fbench.data.voc import find_voc_root, read_split

    from c2fbench.data.voc import image_path
    from c2fbench.files import check_output_apart

    out, predictions = Path(out), Path(predictions)
    folder = member_folder(competition)
    check_output_apart(out, {"--predictions": predictions})  # with --force or without
    check_out_file(out, force=force)
    voc_root = find_voc_root(data_root)
    check_output_apart(out, {"the VOC 2012 folder of --data-root": voc_root})
    split_file = voc_root / "ImageSets" / "Segmentation" / "test.txt"
    if not split_file.exists():
        raise InputError(f"{split_file}: split file not found (the test set is the separate download "
                         f"VOC2012test.tar, which adds test.txt and the test JPEGs)")
    ids = read_split(voc_root, "test")
    check_prediction_ids(predictions, ids, split_file)
    # every file read, links followed: a test JPEG or prediction may be a link to where --out points
    check_output_apart(out, {"the split file": split_file, "the test images": voc_root / "JPEGImages",
                             **{f"the test image of {i}": image_path(voc_root, i) for i in ids},
                             **{f"the prediction of {i}": predictions / f"{i}.png" for i in ids}})
    return VocTestSubmission(voc_root=voc_root, ids=ids, predictions=predictions, out=out, folder=folder)


def write_submission(plan: VocTestSubmission, *, advance: Callable[[int], None] | None = None) -> int:
    """Pack ``plan``'s predictions, re-encoded as VOC-palette PNGs, into the gzip tar
    ``plan.out`` in the server's layout; return its size in bytes.

    Predictions may be palette or grayscale PNGs of class indices; each must have its
    JPEG's size and values 0..20. ``advance(n)`` is called as images are packed. A bad
    prediction raises InputError naming the file, and ``plan.out`` is left as it was.
    """
    from c2fbench.atomic import atomic_open, remove_stale_temporaries
    from c2fbench.data.png import encode_label_png
    from c2fbench.data.voc import image_path

    remove_stale_temporaries(plan.out.parent, [plan.out.name])  # a partial archive of a run killed here
    now = int(time.time())
    with atomic_open(plan.out, "wb") as f:
        # ustar: the plain format every tar reads; the names are short ASCII (ids are checked by read_split)
        with tarfile.open(fileobj=f, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
            parts = plan.folder.split("/")
            for depth in range(1, len(parts) + 1):  # the folders first, as `tar czf x.tar.gz results` lists them
                tar.addfile(_member("/".join(parts[:depth]), now, folder=True))
            for image_id in plan.ids:
                pred = checked_prediction(plan.predictions / f"{image_id}.png", image_id,
                                          image_size(image_path(plan.voc_root, image_id)))
                data = encode_label_png(pred)
                tar.addfile(_member(f"{plan.folder}/{image_id}.png", now, size=len(data)), io.BytesIO(data))
                if advance is not None:
                    advance(1)
        return f.tell()


def _member(name: str, mtime: int, *, size: int = 0, folder: bool = False) -> tarfile.TarInfo:
    """A tar entry owned by nobody in particular (uid 0, no user name), world-readable."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.mode = 0o755 if folder else 0o644
    info.size, info.mtime = size, mtime
    return info
