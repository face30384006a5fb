"""The recent leaderboard as data: the shipped file passes its checks, each malformed case is
refused with the row named, and rows are spot-checked against numbers read in their sources."""

import copy
import json

import pytest

from c2fbench.errors import InputError
from c2fbench.leaderboard.recent import (BACKBONES, EXTRA_SUPERVISION, RECENT_FILE, TRAIN_SCORES, quotes_number,
                                         recent_tables, validate_recent)


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
    ("SeCo", "2402.18467", 74.0, 73.8, 46.7),      # github.com/zwyang6/SeCo 'Main Results' (test once read 73.9)
    ("MoRe", "2412.11076", 76.4, 75.0, 47.4),      # github.com/zwyang6/MoRe, id from its citation block
    ("DuPL", "2403.11184", 72.2, 71.6, 43.5),      # github.com/Wu0409/DuPL, 'val/test (with MS+CRF)'
])
def test_spot_checked_rows_match_their_sources(method, arxiv, voc_val, voc_test, coco_val):
    row = rows_by_method()[method]
    assert row["arxiv"] == arxiv
    assert (row["voc_val_mIoU"], row["voc_test_mIoU"], row["coco_val_mIoU"]) == (voc_val, voc_test, coco_val)


# The oracle for the seed and mask columns: (seed, mask) on VOC 2012 train as read in the READMEs;
# every other method's README states neither, so both stay empty.
TRAIN = {"CLIP-ES": (70.8, 75.0),  # 'The quality of generated pseudo masks on PASCAL VOC2012 train set.' CAMs, +CRF
         "CLIMS": (56.6, 70.5)}    # 'The quality of initial CAMs and pseudo masks on PASCAL VOC2012.' CAMs, + RW


def test_seed_and_mask_numbers_are_the_sourced_ones_each_with_its_quote():
    for method, row in rows_by_method().items():
        assert (row["voc_train_seed_mIoU"], row["voc_train_mask_mIoU"]) == TRAIN.get(method, (None, None)), method
        if method not in TRAIN:
            assert row["train_source"] is None, method
            continue
        quote = row["train_source"]
        assert quote.startswith("https://github.com/") and quote.split()[0] in row["source"]  # the same README
        for value in TRAIN[method]:
            assert f" {value:.1f} |" in quote, (method, value)  # the table cell, as the README prints it


def test_dupl_names_where_its_backbone_was_read_and_more_cites_its_own_id():
    rows = rows_by_method()
    assert rows["DuPL"]["backbone"] == "DeiT-B" and "deit_base_patch16_224" in rows["DuPL"]["source"]
    assert "logs" in rows["DuPL"]["setting"] and "DuPL (2403.11184)" not in shipped()["note"]  # no longer left out
    assert "2412.11076" in rows["MoRe"]["source"] and "repeats SeCo" not in rows["MoRe"]["source"]


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
    (set_field(2, "voc_train_seed_mIoU", 101.0), "voc_train_seed_mIoU = 101.0 is not a percentage"),
    (set_field(2, "voc_train_seed_mIoU", 60.1), "train_source = None must be the https address"),
    (set_field(1, "voc_train_mask_mIoU", 75.1), "voc_train_mask_mIoU = 75.1 does not appear in its train_source"),
    (set_field(1, "train_source", "CLIP-ES README: | 70.8 | 75.0 |"), "must be the https address"),
    (set_field(2, "train_source", "https://example.org"), "train_source is given but"),
    (drop_field(3, "train_source"), "missing field 'train_source'"),
    (drop_field(3, "voc_train_mask_mIoU"), "missing field 'voc_train_mask_mIoU'"),
])
def test_validation_refuses_each_malformed_case(mutate, message):
    with pytest.raises(InputError, match="recent_tables.json") as info:
        validate_recent(broken(mutate))
    assert message in str(info.value)


def test_a_valid_table_number_is_accepted():
    validate_recent(broken(set_field(0, "table", "Table 3")))
    validate_recent(broken(set_field(0, "table", "Table IV")))


def test_a_quote_holds_a_number_only_as_the_number_itself():
    assert quotes_number("| CLIP-ES | 70.8 | 75.0 |", 75.0) and quotes_number("(70.8)", 70.8)
    assert not quotes_number("| 170.8 |", 70.8) and not quotes_number("| 70.85 |", 70.8)
    assert not quotes_number("| 75 |", 75.0)  # the README's one decimal, not a rounder number
    assert TRAIN_SCORES == ("voc_train_seed_mIoU", "voc_train_mask_mIoU")
