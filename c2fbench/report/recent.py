"""Today's leaderboard beside the paper's (``report --leaderboard recent|both``): the user's
results placed among image-level WSSS methods published 2019-2025
(:mod:`c2fbench.leaderboard.recent`), with each method's backbone and a '*' where it uses
supervision beyond image-level labels, as the paper's Table II marks such methods.

Which column a user's result fills is read from its metrics.json and label (:func:`column_of`):

- ``seed`` (VOC train seed mIoU): a ``voc-train`` eval of CAM seeds, i.e. with ``cam_sweep``
  or ``best_threshold`` (``eval --cams``);
- ``mask`` (VOC train pseudo-mask mIoU): any other ``voc-train`` eval that says it scores
  masks: ``uncertain`` in metrics.json (``eval --uncertain``, which only pseudo masks need:
  a segmentation network never predicts 255), or a label with the word mask or masks in it
  (``masks=runs/eval-masks``, or an eval folder named ``grabcut-masks``);
- ``voc_val`` / ``coco_val``: a ``voc-val`` / ``coco-val`` eval that is not of CAM seeds.

The benchmark decides between a mask and a val prediction: masks are made for the training
images, so only a ``voc-train`` result can be a mask row, and a ``voc-val`` result is always
a prediction. Everything else is left out of this table: a ``voc-train`` eval with neither
mark (a model's predictions on the training images), CAM seeds scored on val, and
``voc-train-aug`` (the published seed and mask numbers are on the 1,464 train images).
"""

from __future__ import annotations

import re

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard.recent import recent_tables
from c2fbench.report import figures
from c2fbench.report.cells import DASH, SYNTHETIC_NOTE, fmt, is_synthetic, row_name, with_ci
from c2fbench.report.document import Data, Figure, Section, Table
from c2fbench.report.inputs import ReportInput

# The columns, in the order ranking falls back through them, with their names and the fields
# of recent_tables.json that fill them.
ORDER = ("voc_val", "coco_val", "mask", "seed")
NAMES = {"voc_val": "VOC val", "coco_val": "COCO val", "seed": "VOC train seed", "mask": "VOC train mask"}
PUBLISHED = {"voc_val": "voc_val_mIoU", "voc_test": "voc_test_mIoU", "coco_val": "coco_val_mIoU",
             "seed": "voc_train_seed_mIoU", "mask": "voc_train_mask_mIoU"}
FIGURES = {"voc_val": "voc", "coco_val": "coco", "seed": "seed", "mask": "mask"}  # leaderboard-recent-<name>.png
MASK_WORD = re.compile(r"(?<![a-z])masks?(?![a-z])")


def column_of(item: ReportInput) -> str | None:
    """The column a user's result fills (see the module docstring), or None: not placed."""
    if item.kind != "semantic":
        return None
    data = item.data
    seed = "cam_sweep" in data or "best_threshold" in data
    if data["benchmark"] == "coco-val":
        return None if seed else "coco_val"
    if list(data["classes"]) != list(VOC_CLASSES):
        return None
    if data["benchmark"] == "voc-val":
        return None if seed else "voc_val"
    if data["benchmark"] == "voc-train":
        if seed:
            return "seed"
        if "uncertain" in data or MASK_WORD.search(item.label.lower()):
            return "mask"
    return None


def _entries(mine: list[tuple[ReportInput, str]]) -> list[dict]:
    entries = [{"name": r["method"] + ("" if r["extra_supervision"] == "none" else "*"), "venue": r["venue"],
                "backbone": r["backbone"], "extra": r["extra_supervision"], "arxiv": r["arxiv"], "table": r["table"],
                **{column: r[field] for column, field in PUBLISHED.items()}, "ci": None, "user": False}
               for r in recent_tables()["recent"]["rows"]]
    for item, column in mine:
        entry = {"name": row_name(item), "venue": "your result", "backbone": None, "extra": None, "arxiv": None,
                 "table": None, **dict.fromkeys(PUBLISHED), "ci": item.data.get("mIoU_ci95"), "user": True}
        entry[column] = item.data["mIoU"]
        entries.append(entry)
    return entries


def _ranked(entries: list[dict], first: str) -> list[dict]:
    """By ``first``, best first; rows without it follow, by the next column of ORDER that they
    have. Ties go by the later columns, then keep the file's order, then the user's."""
    order = (first, *(c for c in ORDER if c != first))
    return sorted(entries, key=lambda e: [k for c in order for k in (e[c] is None, -(e[c] or 0.0))])


def recent_leaderboard_section(inputs: list[ReportInput]) -> list[Section]:
    mine = [(item, column) for item in inputs if (column := column_of(item)) is not None]
    if not mine:
        return []
    first = next(c for c in ORDER if any(column == c for _, column in mine))
    entries = _ranked(_entries(mine), first)

    def score(e, column):
        return with_ci(e[column], e["ci"]) if e["user"] and e[column] is not None else fmt(e[column])

    def interval(e, column):
        return tuple(e["ci"]) if e["user"] and e["ci"] and e[column] is not None else (None, None)

    rows = [[str(rank), e["name"], e["backbone"] or DASH, e["venue"], score(e, "voc_val"), fmt(e["voc_test"]),
             score(e, "coco_val"), score(e, "seed"), score(e, "mask"), e["arxiv"] or DASH]
            for rank, e in enumerate(entries, 1)]
    user_rows = {k for k, e in enumerate(entries) if e["user"]}
    data = Data("leaderboard_recent",
                ["rank", "method", "venue", "backbone", "extra supervision", "arXiv", "table", "VOC val mIoU",
                 "VOC val mIoU 95% low", "VOC val mIoU 95% high", "VOC test mIoU", "COCO val mIoU",
                 "COCO val mIoU 95% low", "COCO val mIoU 95% high", "VOC train seed mIoU",
                 "VOC train seed mIoU 95% low", "VOC train seed mIoU 95% high", "VOC train mask mIoU",
                 "VOC train mask mIoU 95% low", "VOC train mask mIoU 95% high"],
                [[rank, e["name"], e["venue"], e["backbone"], e["extra"], e["arxiv"], e["table"], e["voc_val"],
                  *interval(e, "voc_val"), e["voc_test"], e["coco_val"], *interval(e, "coco_val"), e["seed"],
                  *interval(e, "seed"), e["mask"], *interval(e, "mask")]
                 for rank, e in enumerate(entries, 1)],
                source=["yours" if e["user"] else "paper" for e in entries],
                caption=f"Image-level WSSS since 2019: mIoU (%), ranked by {NAMES[first]}")
    blocks = [
        _explanation(first),
        Table(["rank", "method", "backbone", "venue", "VOC val mIoU", "VOC test mIoU", "COCO val mIoU",
               "seed (VOC train)", "mask (VOC train)", "arXiv"],
              rows, user_rows, caption=f"Image-level WSSS since 2019, mIoU (%), ranked by {NAMES[first]}", data=data),
    ]
    for column in ("voc_val", "coco_val", "seed", "mask"):
        if any(e["user"] and e[column] is not None for e in entries):
            bars = [{"name": e["name"], "value": e[column], "supervision": "Image-level Labels", "user": e["user"]}
                    for e in _ranked(entries, column) if e[column] is not None]
            blocks.append(Figure(f"leaderboard-recent-{FIGURES[column]}", figures.leaderboard_png(
                bars, metric=f"{NAMES[column]} mIoU (%)", legend=False),
                f"{NAMES[column]} mIoU of image-level WSSS methods since 2019 (grey) and yours (red)."))
    if any(is_synthetic(item.data) for item, _ in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("Recent image-level WSSS leaderboard (2019-2025)", blocks)]


def _explanation(first: str) -> str:
    others = ", ".join(NAMES[c] for c in ORDER if c != first)
    return (
        f"Your results among image-level weakly supervised methods published 2019-2025, ranked by {NAMES[first]} "
        f"mIoU; rows without one follow, by the first they have of {others}. A voc-val eval fills VOC val and a "
        f"coco-val eval COCO val. Seed and mask are VOC 2012 train: a voc-train eval of CAM seeds (`eval --cams`, "
        f"with cam_sweep in metrics.json) fills seed; a voc-train eval with `--uncertain`, or labelled with the "
        f"word mask or masks (`masks=runs/eval-masks`), fills mask. Other voc-train results, seeds scored on val "
        f"and voc-train-aug results are not placed. Each published number is copied from the method's own "
        f"publication, its official code README or its abstract (source, setting and, for seed and mask, the "
        f"README line quoted in `c2fbench/leaderboard/recent_tables.json`; arXiv ids also in "
        f"tables/leaderboard_recent.csv); a number no such source states is left empty, and "
        f"methods whose numbers could not be read there are left out rather than entered from memory. '*' marks "
        f"methods that use supervision beyond image-level labels (saliency maps, or a pretrained vision-language "
        f"model such as CLIP), as the paper's '*' does. Backbone is the segmentation network as the source states "
        f"it; settings differ between rows (multi-scale testing, CRF, pre-training), see the file. Brackets hold "
        f"bootstrap 95% intervals where the eval ran with --bootstrap.")
