"""Today's leaderboard beside the paper's (``report --leaderboard recent|both``): the user's
voc-val and coco-val results placed among image-level WSSS methods published 2019-2025
(:mod:`c2fbench.leaderboard.recent`), with each method's backbone and a '*' where it uses
supervision beyond image-level labels, as the paper's Table II marks such methods."""

from __future__ import annotations

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.leaderboard.recent import recent_tables
from c2fbench.report import figures
from c2fbench.report.cells import DASH, SYNTHETIC_NOTE, fmt, is_synthetic, row_name, with_ci
from c2fbench.report.document import Data, Figure, Section, Table
from c2fbench.report.inputs import ReportInput

COLUMNS = {"voc-val": "voc_val", "coco-val": "coco_val"}  # benchmark -> the column it fills
NAMES = {"voc_val": "VOC val", "coco_val": "COCO val"}


def _results(inputs: list[ReportInput]) -> list[ReportInput]:
    """The user's voc-val (the 21 VOC classes) and coco-val results."""
    return [i for i in inputs if i.kind == "semantic" and i.data["benchmark"] in COLUMNS
            and (i.data["benchmark"] != "voc-val" or list(i.data["classes"]) == list(VOC_CLASSES))]


def _entries(mine: list[ReportInput]) -> list[dict]:
    entries = [{"name": r["method"] + ("" if r["extra_supervision"] == "none" else "*"), "venue": r["venue"],
                "backbone": r["backbone"], "extra": r["extra_supervision"], "arxiv": r["arxiv"], "table": r["table"],
                "voc_val": r["voc_val_mIoU"], "voc_test": r["voc_test_mIoU"], "coco_val": r["coco_val_mIoU"],
                "ci": None, "user": False} for r in recent_tables()["recent"]["rows"]]
    for item in mine:
        column = COLUMNS[item.data["benchmark"]]
        entry = {"name": row_name(item), "venue": "your result", "backbone": None, "extra": None, "arxiv": None,
                 "table": None, "voc_val": None, "voc_test": None, "coco_val": None, "ci": None, "user": True}
        entry[column] = item.data["mIoU"]
        entry["ci"] = item.data.get("mIoU_ci95")
        entries.append(entry)
    return entries


def _ranked(entries: list[dict], first: str) -> list[dict]:
    """By ``first`` (voc_val or coco_val), best first; rows without it follow, by the other.
    Ties go by the other column, then keep the file's order, then the user's."""
    second = "coco_val" if first == "voc_val" else "voc_val"
    return sorted(entries, key=lambda e: (e[first] is None, -(e[first] or 0.0), e[second] is None, -(e[second] or 0.0)))


def recent_leaderboard_section(inputs: list[ReportInput]) -> list[Section]:
    mine = _results(inputs)
    if not mine:
        return []
    first = "voc_val" if any(i.data["benchmark"] == "voc-val" for i in mine) else "coco_val"
    entries = _ranked(_entries(mine), first)

    def score(e, column):
        return with_ci(e[column], e["ci"]) if e["user"] and e[column] is not None else fmt(e[column])

    rows = [[str(rank), e["name"], e["backbone"] or DASH, e["venue"], score(e, "voc_val"), fmt(e["voc_test"]),
             score(e, "coco_val"), e["arxiv"] or DASH] for rank, e in enumerate(entries, 1)]
    user_rows = {k for k, e in enumerate(entries) if e["user"]}

    def interval(e, column):
        return tuple(e["ci"]) if e["user"] and e["ci"] and e[column] is not None else (None, None)

    data = Data("leaderboard_recent",
                ["rank", "method", "venue", "backbone", "extra supervision", "arXiv", "table", "VOC val mIoU",
                 "VOC val mIoU 95% low", "VOC val mIoU 95% high", "VOC test mIoU", "COCO val mIoU",
                 "COCO val mIoU 95% low", "COCO val mIoU 95% high"],
                [[rank, e["name"], e["venue"], e["backbone"], e["extra"], e["arxiv"], e["table"], e["voc_val"],
                  *interval(e, "voc_val"), e["voc_test"], e["coco_val"], *interval(e, "coco_val")]
                 for rank, e in enumerate(entries, 1)],
                source=["yours" if e["user"] else "paper" for e in entries],
                caption=f"Image-level WSSS since 2019: mIoU (%), ranked by {NAMES[first]}")
    other = NAMES["coco_val" if first == "voc_val" else "voc_val"]
    blocks = [
        f"Your voc-val results (VOC val column) and coco-val results (COCO val column) among image-level weakly "
        f"supervised methods published 2019-2025, ranked by {NAMES[first]} mIoU; rows without one follow, by "
        f"{other}. Each published number is copied from the method's own publication, its official code README "
        f"or its abstract (source, setting and arXiv id in `c2fbench/leaderboard/recent_tables.json` and in "
        f"tables/leaderboard_recent.csv); methods whose numbers could not be read there are left out rather than "
        f"entered from memory. '*' marks methods that use supervision beyond image-level labels (saliency maps, "
        f"or a pretrained vision-language model such as CLIP), as the paper's '*' does. Backbone is the "
        f"segmentation network as the source states it; settings differ between rows (multi-scale testing, CRF, "
        f"pre-training), see the file. Brackets hold bootstrap 95% intervals where the eval ran with --bootstrap.",
        Table(["rank", "method", "backbone", "venue", "VOC val mIoU", "VOC test mIoU", "COCO val mIoU", "arXiv"],
              rows, user_rows, caption=f"Image-level WSSS since 2019, mIoU (%), ranked by {NAMES[first]}", data=data),
    ]
    for column in ("voc_val", "coco_val"):
        if any(e["user"] and e[column] is not None for e in entries):
            bars = [{"name": e["name"], "value": e[column], "supervision": "Image-level Labels", "user": e["user"]}
                    for e in _ranked(entries, column) if e[column] is not None]
            blocks.append(Figure(f"leaderboard-recent-{column.split('_')[0]}", figures.leaderboard_png(
                bars, metric=f"{NAMES[column]} mIoU (%)", legend=False),
                f"{NAMES[column]} mIoU of image-level WSSS methods since 2019 (grey) and yours (red)."))
    if any(is_synthetic(i.data) for i in mine):
        blocks.insert(1, SYNTHETIC_NOTE)
    return [Section("Recent image-level WSSS leaderboard (2019-2025)", blocks)]
