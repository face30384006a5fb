"""``c2fbench compare``: the paired bootstrap against an explicit loop, limiting cases, bad input."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.metrics.bootstrap import paired_bootstrap_miou
from c2fbench.metrics.semantic import semantic_scores
from report_helpers import scored


def test_paired_interval_matches_an_explicit_loop():
    rng = np.random.default_rng()
    a, b = rng.integers(0, 30, (25, 4, 4)), rng.integers(0, 30, (25, 4, 4))
    low, high = paired_bootstrap_miou(a, b, n=256, seed=3)
    draws = np.random.default_rng(3)
    diffs = []
    for _ in range(2):
        idx = draws.integers(0, 25, size=(128, 25))
        diffs += [semantic_scores(a[row].sum(0)).miou - semantic_scores(b[row].sum(0)).miou for row in idx]
    assert (low, high) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])))


def test_a_result_against_itself_and_against_a_much_worse_one(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    bad = scored(voc_tree, tmp_path, "bad", 0.8, 2)
    same = CliRunner().invoke(cli, ["compare", str(good), str(good), "--out", str(tmp_path / "c1")])
    assert same.exit_code == 0, same.output
    result = json.loads((tmp_path / "c1" / "compare.json").read_text())
    assert result["difference"] == 0 and result["difference_ci95"] == [0, 0] and not result["excludes_zero"]
    diff = CliRunner().invoke(cli, ["compare", str(good), str(bad), "--out", str(tmp_path / "c2")])
    result = json.loads((tmp_path / "c2" / "compare.json").read_text())
    assert result["difference"] > 0 and result["excludes_zero"] and result["difference_ci95"][0] > 0
    assert "excludes 0" in diff.output


def test_different_benchmarks_or_images_are_refused(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    metrics = json.loads((good / "metrics.json").read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "metrics.json").write_text(json.dumps({**metrics, "benchmark": "voc-train"}))
    result = CliRunner().invoke(cli, ["compare", str(good), str(tmp_path / "other")])
    assert result.exit_code == 2 and "compare one benchmark" in result.output
    npz = dict(np.load(good / "per_image.npz"))
    (tmp_path / "fewer").mkdir()
    (tmp_path / "fewer" / "metrics.json").write_text(json.dumps(metrics))
    np.savez(tmp_path / "fewer" / "per_image.npz", ids=npz["ids"][:-1], confusion=npz["confusion"][:-1])
    result = CliRunner().invoke(cli, ["compare", str(good), str(tmp_path / "fewer")])
    assert result.exit_code == 2 and "1 ids in one only" in result.output
