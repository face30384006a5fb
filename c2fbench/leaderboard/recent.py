"""Today's leaderboard beside the paper's (``recent_tables.json``): image-level WSSS results
published 2019-2025 on PASCAL VOC 2012 val/test and MS COCO 2014 val, loaded and validated.

Every number is copied from the method's own publication (its official code README quoting
the paper, or the paper's abstract), never from a survey or another paper's comparison
table; each row names its source, its arXiv id and, where it was seen, the table number in
the paper. A method whose numbers could not be read in such a source is left out, and the
file's ``note`` says which.

Two further columns, ``voc_train_seed_mIoU`` (the CAM seeds) and ``voc_train_mask_mIoU`` (the
pseudo masks), both on PASCAL VOC 2012 train, are filled only where the official README states
them; ``train_source`` then quotes the README line they were read from, and must hold each
number as written (a check that the quote is the number's, not a paraphrase). A number no
source states stays null.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from c2fbench.errors import InputError
from c2fbench.leaderboard.printed import load_json

RECENT_FILE = Path(__file__).with_name("recent_tables.json")

# Segmentation network as the source states it: "DeepLab v2" where the source names no
# encoder, "(CLIP)" where the encoder is CLIP's image tower.
BACKBONES = ("ResNet-38", "ResNet-50", "ResNet-101", "DeepLab v1 ResNet-38", "DeepLab v2", "DeepLab v2 ResNet-101",
             "DeepLab v3+ ResNet-101", "ViT-S", "ViT-B", "DeiT-S", "DeiT-B", "ViT-B (CLIP)", "ViT-B/16 (CLIP)")
# Supervision beyond the image-level labels, the analogue of the paper's '*'.
EXTRA_SUPERVISION = ("none", "saliency", "CLIP", "saliency+CLIP")
YEARS = range(2019, 2026)
SCORES = ("voc_val_mIoU", "voc_test_mIoU", "coco_val_mIoU")
TRAIN_SCORES = ("voc_train_seed_mIoU", "voc_train_mask_mIoU")  # quoted in the row's train_source
TEXT_FIELDS = ("method", "venue", "setting", "source")
ARXIV = re.compile(r"\d{4}\.\d{4,5}")
TABLE = re.compile(r"Table ([1-9][0-9]?|[IVX]+)")


@lru_cache(maxsize=1)
def recent_tables() -> dict:
    """The recent table, checked on load (see :func:`validate_recent`)."""
    tables = load_json(RECENT_FILE)  # numbers keep their printed digits
    validate_recent(tables)
    return tables


def validate_recent(tables: dict) -> None:
    """Raise InputError naming the row and field of the first malformed value: a score outside
    [0, 100] (or a row with none of the three), a year outside 2019-2025 or not the venue's,
    an arXiv id not ``NNNN.NNNNN``, a ``table`` key missing or not ``Table N`` / null, a
    backbone or extra supervision outside the fixed vocabularies, a method named twice, a seed
    or mask mIoU without a ``train_source`` that quotes it (or a ``train_source`` without one)."""
    for key in ("source", "note"):
        if not isinstance(tables.get(key), str) or not tables[key].strip():
            raise InputError(f"{RECENT_FILE}: top-level {key!r} must be a non-empty string")
    rows = (tables.get("recent") or {}).get("rows")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{RECENT_FILE}: 'recent' must hold a non-empty list of 'rows'")
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        where = f"{RECENT_FILE}: row {index} ({row.get('method', '?') if isinstance(row, dict) else '?'})"
        if not isinstance(row, dict):
            raise InputError(f"{where}: is not an object")
        _check_row(row, where)
        key = row["method"].strip().lower()
        if key in seen:
            raise InputError(f"{where}: method {row['method']!r} is already row {seen[key]}")
        seen[key] = index


def _check_row(row: dict, where: str) -> None:
    missing = [k for k in (*TEXT_FIELDS, "year", "arxiv", "table", "backbone", "extra_supervision", *SCORES,
                           *TRAIN_SCORES, "train_source") if k not in row]
    if missing:
        raise InputError(f"{where}: missing field {missing[0]!r}")
    for key in TEXT_FIELDS:
        if not isinstance(row[key], str) or not row[key].strip():
            raise InputError(f"{where}: {key} = {row[key]!r} is not a non-empty string")
    year = row["year"]
    if isinstance(year, bool) or not isinstance(year, int) or year not in YEARS:
        raise InputError(f"{where}: year = {year!r} is not a year in 2019-2025")
    if not row["venue"].endswith(str(year)):
        raise InputError(f"{where}: venue {row['venue']!r} does not end with its year {year}")
    if not isinstance(row["arxiv"], str) or not ARXIV.fullmatch(row["arxiv"]):
        raise InputError(f"{where}: arxiv = {row['arxiv']!r} is not an arXiv id like 2303.01267")
    if row["table"] is not None and not (isinstance(row["table"], str) and TABLE.fullmatch(row["table"])):
        raise InputError(f"{where}: table = {row['table']!r} is not 'Table N' (or null: not seen)")
    if row["backbone"] not in BACKBONES:
        raise InputError(f"{where}: backbone = {row['backbone']!r} is not one of {', '.join(BACKBONES)}")
    if row["extra_supervision"] not in EXTRA_SUPERVISION:
        raise InputError(f"{where}: extra_supervision = {row['extra_supervision']!r} is not one of "
                         f"{', '.join(EXTRA_SUPERVISION)}")
    for key in (*SCORES, *TRAIN_SCORES):
        value = row[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= 100):
            raise InputError(f"{where}: {key} = {value!r} is not a percentage")
    if all(row[key] is None for key in SCORES):
        raise InputError(f"{where}: has none of {', '.join(SCORES)}")
    _check_train_source(row, where)


def _check_train_source(row: dict, where: str) -> None:
    """A seed or mask number comes with the README line it was read from: ``train_source`` is
    an https address followed by the quote, and holds each number as written (70.8, 75.0)."""
    quote = row["train_source"]
    numbers = [row[key] for key in TRAIN_SCORES if row[key] is not None]
    if not numbers:
        if quote is not None:
            raise InputError(f"{where}: train_source is given but {' and '.join(TRAIN_SCORES)} are null")
        return
    if not isinstance(quote, str) or not quote.startswith("https://"):
        raise InputError(f"{where}: train_source = {quote!r} must be the https address of the README that states "
                         f"the seed and mask mIoU, with the quoted line")
    for key in TRAIN_SCORES:
        if row[key] is not None and not quotes_number(quote, row[key]):
            raise InputError(f"{where}: {key} = {row[key]!r} does not appear in its train_source quote")


def quotes_number(text: str, value: float) -> bool:
    """Whether ``text`` holds ``value`` as the README writes it, with one decimal (70.8, 75.0;
    a value with more decimals as Python writes it), not as part of a longer number (170.8, 70.85)."""
    written = f"{value:.1f}" if round(value, 1) == value else repr(value)
    return re.search(rf"(?<![\d.]){re.escape(written)}(?![\d])", text) is not None
