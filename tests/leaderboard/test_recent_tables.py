"""The recent leaderboard as data: the shipped file passes its checks, each malformed case is
refused with the row named, and rows are spot-checked against numbers read in their sources."""

import copy
import json

import pytest

from c2fbench.errors import InputError
from c2fbench.leaderboard.recent import BACKBONES, EXTRA_SUPERVISION, RECENT_FILE, recent_tables, validate_recent


def shipped() -> dict:
    return json.loads(RECENT_FILE.read_text())


def rows_by_method() -> dict:
    return {r["method"]: r for r in recent_tables()["recent"]["rows"]}


def test_the_shipped_file_passes_and_every_row_names_its_source():
    tables = recent_tables()
    validate_recent(shipped())
    rows = tables["recent"]["rows"]
    assert len(rows) >= 8
    for row in rows:
        assert row["source"].startswith("https://") and 2019 <= row["year"] <= 2025
        assert row["backbone"] in BACKBONES and row["extra_supervision"] in EXTRA_SUPERVISION
    # CNN pipelines and CLIP/ViT ones are both present
    assert {r["backbone"] for r in rows} & {"ResNet-101", "DeepLab v2"}
    assert {r["extra_supervision"] for r in rows} >= {"none", "CLIP"}


# The oracle: numbers as read in each method's official README (URL in the row's source),
# written here by hand rather than taken from the JSON.
@pytest.mark.parametrize("method, arxiv, voc_val, voc_test, coco_val", [
    ("ToCo", "2303.01267", 71.1, 72.2, 42.2),      # github.com/rulixiang/ToCo, ViT-B, MS+CRF
    ("CLIP-ES", "2212.09506", 71.1, 71.4, 45.4),   # github.com/linyq2117/CLIP-ES, DeepLabV2 ImageNet
    ("CoSA", "2402.17891", 76.2, 75.1, 51.0),      # github.com/youshyee/CoSA; 76.2 / 51.0 also in its abstract
    ("ExCEL", "2503.20826", 78.4, 78.5, 50.3),     # github.com/zwyang6/ExCEL
    ("MARS", "2304.09913", 77.7, 77.2, 49.4),      # github.com/shjo-april/MARS and its abstract
    ("CLIMS", "2203.02668", 69.3, 68.7, None),     # github.com/CVI-SZU/CLIMS, camera-ready ImageNet row
])
def test_spot_checked_rows_match_their_sources(method, arxiv, voc_val, voc_test, coco_val):
    row = rows_by_method()[method]
    assert row["arxiv"] == arxiv
    assert (row["voc_val_mIoU"], row["voc_test_mIoU"], row["coco_val_mIoU"]) == (voc_val, voc_test, coco_val)


def test_clip_based_methods_are_marked_and_the_others_not():
    rows = rows_by_method()
    assert [m for m, r in rows.items() if r["extra_supervision"] == "CLIP"] == ["CLIMS", "CLIP-ES", "ExCEL"]
    assert rows["ExCEL"]["backbone"] == "ViT-B (CLIP)" and rows["ToCo"]["backbone"] == "ViT-B"


def broken(mutate):
    tables = copy.deepcopy(shipped())
    mutate(tables)
    return tables


def set_field(index, key, value):
    def mutate(tables):
        tables["recent"]["rows"][index][key] = value
    return mutate


def drop_field(index, key):
    def mutate(tables):
        del tables["recent"]["rows"][index][key]
    return mutate


def no_scores(tables):
    for key in ("voc_val_mIoU", "voc_test_mIoU", "coco_val_mIoU"):
        tables["recent"]["rows"][0][key] = None


def duplicate(tables):
    rows = tables["recent"]["rows"]
    rows.append({**rows[0], "method": rows[0]["method"].upper()})


@pytest.mark.parametrize("mutate, message", [
    (set_field(0, "voc_val_mIoU", 100.5), "voc_val_mIoU = 100.5 is not a percentage"),
    (set_field(1, "voc_test_mIoU", -0.1), "voc_test_mIoU = -0.1 is not a percentage"),
    (set_field(1, "coco_val_mIoU", "45.4"), "coco_val_mIoU = '45.4' is not a percentage"),
    (set_field(1, "coco_val_mIoU", float("nan")), "is not a percentage"),
    (set_field(2, "voc_val_mIoU", True), "is not a percentage"),
    (no_scores, "has none of voc_val_mIoU"),
    (set_field(2, "year", 2018), "year = 2018 is not a year in 2019-2025"),
    (set_field(2, "year", 2026), "year = 2026"),
    (set_field(2, "year", "2023"), "year = '2023'"),
    (set_field(2, "year", 2024), "does not end with its year 2024"),
    (set_field(3, "arxiv", "2304.099"), "arxiv = '2304.099' is not an arXiv id"),
    (set_field(3, "arxiv", "arXiv:2304.09913"), "is not an arXiv id"),
    (set_field(3, "arxiv", 2304.09913), "is not an arXiv id"),
    (drop_field(4, "table"), "missing field 'table'"),
    (set_field(4, "table", "Tab. 3"), "table = 'Tab. 3' is not 'Table N'"),
    (set_field(4, "table", 3), "is not 'Table N'"),
    (set_field(5, "backbone", "ResNet101"), "backbone = 'ResNet101' is not one of"),
    (set_field(5, "extra_supervision", "clip"), "extra_supervision = 'clip' is not one of"),
    (set_field(5, "extra_supervision", None), "extra_supervision = None"),
    (set_field(6, "source", ""), "source = '' is not a non-empty string"),
    (drop_field(6, "setting"), "missing field 'setting'"),
    (duplicate, "is already row 0"),
    (lambda t: t.pop("note"), "top-level 'note'"),
    (lambda t: t["recent"].update(rows=[]), "non-empty list of 'rows'"),
])
def test_validation_refuses_each_malformed_case(mutate, message):
    with pytest.raises(InputError, match="recent_tables.json") as info:
        validate_recent(broken(mutate))
    assert message in str(info.value)


def test_a_valid_table_number_is_accepted():
    validate_recent(broken(set_field(0, "table", "Table 3")))
    validate_recent(broken(set_field(0, "table", "Table IV")))
