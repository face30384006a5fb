"""The paper's published tables as data (``paper_tables.json``, transcribed from the paper,
arXiv:1812.10885), loaded and validated.

Table I: val mIoU by training-mask type; Table II: VOC 2012 val/test mIoU of every listed
method with its supervision and venue; Table III: the paper's per-class IoU (val, test);
Table IV: MIT Object Discovery J per class and average, subset and full.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from c2fbench.data.voc import VOC_CLASSES
from c2fbench.errors import InputError
from c2fbench.leaderboard.printed import load_json

TABLES_FILE = Path(__file__).with_name("paper_tables.json")


@lru_cache(maxsize=1)
def paper_tables() -> dict:
    """The four tables, checked on load (see :func:`validate`)."""
    tables = load_json(TABLES_FILE)  # numbers keep their printed digits
    validate(tables)
    return tables


def validate(tables: dict) -> None:
    """Raise InputError if a table is malformed: values outside [0, 100], Table III's classes
    not the 20 VOC object classes, or its mIoU inconsistent with a background IoU in [0, 100]."""
    def percent(value, where):
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise InputError(f"{TABLES_FILE}: {where} = {value!r} is not a percentage")

    for row in tables["table1_mask_types"]["rows"]:
        percent(row["val_mIoU"], f"table I {row['mask']}")
    for row in tables["table2_voc2012"]["rows"]:
        percent(row["val_mIoU"], f"table II {row['method']} val")
        percent(row["test_mIoU"], f"table II {row['method']} test")
    for split in ("val", "test"):
        entry = tables["table3_per_class"][split]
        if list(entry["per_class_iou"]) != list(VOC_CLASSES[1:]):
            raise InputError(f"{TABLES_FILE}: table III {split} classes are not the 20 VOC object classes")
        background = 21 * entry["mIoU"] - sum(entry["per_class_iou"].values())
        percent(background, f"table III {split} implied background IoU")
    for row in tables["table4_mit"]["rows"]:
        for part in ("subset", "full"):
            for name, value in row[part].items():
                percent(value, f"table IV {row['method']} {part} {name}")
