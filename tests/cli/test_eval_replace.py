"""``eval --out`` onto an earlier result says so, with what the earlier one held that the new
one does not (issue 28: a ``--worst`` rerun dropped a bootstrap interval without a word)."""

from __future__ import annotations

import json

import numpy as np

from cli_helpers import run
from conftest import save_palette_png


def predictions(folder, labels, seed):
    rng = np.random.default_rng(seed)
    for image_id, label in labels.items():
        noisy = np.where(rng.random(label.shape) < 0.3, rng.integers(0, 21, label.shape), label)
        save_palette_png(folder / f"{image_id}.png", np.where(label == 255, 0, noisy).astype(np.uint8))


def eval_into(data_root, pred, out, *extra):
    result = run("eval", "voc-val", "--data-root", data_root, "--predictions", pred, "--out", out, "--no-figures",
                 "--workers", "1", *extra)
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if "replaced" in line]


def test_a_rerun_names_the_earlier_result_and_what_the_new_one_lacks(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    predictions(tmp_path / "pred", labels, seed=1)
    out = tmp_path / "out"
    assert eval_into(data_root, tmp_path / "pred", out, "--bootstrap", "20", "--worst", "2") == []  # a new folder
    first = json.loads((out / "metrics.json").read_text())
    lines = eval_into(data_root, tmp_path / "pred", out, "--worst", "1")
    second = json.loads((out / "metrics.json").read_text())
    lost = [key for key in first if key not in second]  # the oracle: the two files compared
    assert lost == ["mIoU_ci95", "bootstrap"]
    assert lines == [f"{out}: replaced an earlier result (voc-val, mIoU {first['mIoU']:.2f}, {first['time_utc']}); "
                     f"the new one has no mIoU_ci95, bootstrap"]
    lines = eval_into(data_root, tmp_path / "pred", out)  # without --worst: worst.csv goes too
    assert lines[0].endswith("; the new one has no worst.csv") and not (out / "worst.csv").exists()
    lines = eval_into(data_root, tmp_path / "pred", out)  # the same run again: nothing lost
    assert len(lines) == 1 and "the new one has no" not in lines[0]


def test_an_unreadable_earlier_metrics_json_is_said_and_replaced(voc_tree, tmp_path):
    data_root, _, labels = voc_tree
    predictions(tmp_path / "pred", labels, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("{not json")
    (out / "confusion.png").write_bytes(b"\x89PNG")
    lines = eval_into(data_root, tmp_path / "pred", out)
    assert lines == [f"{out}: replaced an earlier result (its metrics.json unreadable); the new one has no "
                     f"confusion.png"]
    assert json.loads((out / "metrics.json").read_text())["benchmark"] == "voc-val"
