"""``c2fbench compare``: the paired bootstrap against an explicit loop, limiting cases, bad input."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from c2fbench.metrics.bootstrap import paired_bootstrap_miou
from c2fbench.metrics.semantic import semantic_scores
from report_helpers import scored, scored_mit


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
    lines = diff.output.splitlines()
    assert f"A = {good}" in lines and f"B = {bad}" in lines


def test_different_benchmarks_or_images_are_refused(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    metrics = json.loads((good / "metrics.json").read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "metrics.json").write_text(json.dumps({**metrics, "benchmark": "voc-train"}))
    result = CliRunner().invoke(cli, ["compare", str(good), str(tmp_path / "other")])
    assert result.exit_code == 2 and "compare one benchmark" in result.output
    _, voc_root, labels = voc_tree
    (voc_root / "ImageSets/Segmentation/val.txt").write_text("".join(f"{i}\n" for i in list(labels)[:-1]))
    fewer = scored(voc_tree, tmp_path, "fewer", 0.1, 1)
    result = CliRunner().invoke(cli, ["compare", str(good), str(fewer)])
    assert result.exit_code == 2 and "1 ids in one only" in result.output


def folder_copy(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("recorded", [True, False], ids=["sha256-recorded", "older-folder"])
def test_a_per_image_file_from_another_run_is_refused(voc_tree, tmp_path, recorded):
    """The state a killed `eval --out` used to leave: an old metrics.json beside a new
    per_image.npz. Refused by the recorded sha256, or (folders without it) by the sums."""
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    other = scored(voc_tree, tmp_path, "other", 0.6, 2)
    mixed = folder_copy(good, tmp_path / "mixed")
    shutil.copy(other / "per_image.npz", mixed / "per_image.npz")
    if not recorded:
        metrics = json.loads((mixed / "metrics.json").read_text())
        del metrics["files"]
        (mixed / "metrics.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(cli, ["compare", str(mixed), str(good)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(mixed / "per_image.npz") in lines[0], lines
    assert ("does not belong" if recorded else "do not belong together") in lines[0]


def _rewrite_npz(folder, **arrays):
    """Replace per_image.npz and drop the recorded sha256, so that the contents are what is checked."""
    with open(folder / "per_image.npz", "wb") as f:
        np.savez(f, **arrays)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics.pop("files")
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.mark.parametrize("kind, message", [
    ("corrupt", "corrupt or not an .npz file"),
    ("pickle", "holds Python objects"),
    ("float", "'confusion' must be integer"),
    ("shape", "'confusion' must be integer"),
    ("no-ids", "lacks the array 'ids'"),
])
def test_unreadable_or_malformed_per_image_is_one_line_naming_the_file(voc_tree, tmp_path, kind, message):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    bad = folder_copy(good, tmp_path / "bad")
    npz = dict(np.load(good / "per_image.npz"))
    if kind == "corrupt":
        _rewrite_npz(bad, **npz)
        (bad / "per_image.npz").write_bytes((good / "per_image.npz").read_bytes()[:100])
    elif kind == "pickle":
        _rewrite_npz(bad, ids=npz["ids"].astype(object), confusion=npz["confusion"])
    elif kind == "float":
        _rewrite_npz(bad, ids=npz["ids"], confusion=npz["confusion"].astype(float))
    elif kind == "shape":
        _rewrite_npz(bad, ids=npz["ids"], confusion=npz["confusion"][:, :20, :20])
    else:
        _rewrite_npz(bad, confusion=npz["confusion"])
    result = CliRunner().invoke(cli, ["compare", str(good), str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(bad / "per_image.npz") in lines[0] and message in lines[0], lines
    assert "Traceback" not in result.output


def test_mit_results_compare_paired_and_bracket_their_difference(mit_tree, tmp_path):
    a = scored_mit(mit_tree, tmp_path, "a", 1)
    b = scored_mit(mit_tree, tmp_path, "b", 2)
    result = CliRunner().invoke(cli, ["compare", str(a), str(b), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "c" / "compare.json").read_text())
    low, high = out["difference_ci95"]
    ja, jb = (json.loads((f / "metrics.json").read_text())["mean_J"] for f in (a, b))
    assert out["difference"] == pytest.approx(ja - jb)
    assert low <= out["difference"] <= high
    assert out["excludes_zero"] == (low > 0 or high < 0)


def test_report_paired_rows_bracket_their_difference_and_say_excludes_zero_from_the_interval(voc_tree, tmp_path):
    from c2fbench.report.document import Table
    from c2fbench.report.inputs import load_inputs
    from c2fbench.report.paired import paired_section

    folders = [scored(voc_tree, tmp_path, name, rate, seed) for name, rate, seed in
               [("a", 0.1, 1), ("b", 0.15, 2), ("c", 0.8, 3)]]
    (section,) = paired_section(load_inputs([f"{f.parent.name}={f}" for f in folders]), resamples=300)
    (table,) = [block for block in section.blocks if isinstance(block, Table)]
    assert len(table.rows) == 3
    for row in table.rows:
        difference = float(row[6])
        low, high = (float(v) for v in row[7].strip("[]").split(","))
        assert low - 0.005 <= difference <= high + 0.005  # two decimals as printed
        assert row[8] == ("yes" if low > 0 or high < 0 else "no")


def test_a_folder_written_before_the_sha256_record_is_still_compared(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    older = folder_copy(good, tmp_path / "older")
    metrics = json.loads((older / "metrics.json").read_text())
    del metrics["files"]
    (older / "metrics.json").write_text(json.dumps(metrics))
    result = CliRunner().invoke(cli, ["compare", str(older), str(good)])
    assert result.exit_code == 0, result.output


def test_a_per_image_file_that_unpacks_too_large_is_refused_before_loading(voc_tree, tmp_path, monkeypatch):
    import c2fbench.eval.results as results

    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    unpacked = sum(len(v.tobytes()) for v in np.load(good / "per_image.npz").values())
    monkeypatch.setattr(results, "MAX_PER_IMAGE_BYTES", unpacked // 2)
    result = CliRunner().invoke(cli, ["compare", str(good), str(good)])
    assert result.exit_code == 2 and "unpacks to more than" in result.output, result.output


@pytest.mark.parametrize("kind, message", [
    ("fifo", r"not a regular file"),
    ("dev-zero", r"not a regular file"),
    ("list", r"not the metrics\.json of `c2fbench eval --out`"),
    ("big-int", r"mIoU = a 1329-bit integer is not a finite number"),
    ("infinity", r"mIoU = inf is not a finite number"),
    ("nested", r"not valid JSON"),
    ("class-big-int", r"per_class_iou\[aeroplane\] = a 1329-bit integer"),
])
def test_a_malformed_metrics_file_is_one_line_naming_it(voc_tree, tmp_path, kind, message):
    """compare reads metrics.json with report's checks: no hang on a FIFO, no OverflowError."""
    import os
    import re
    import subprocess
    import sys

    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    bad = folder_copy(good, tmp_path / "bad")
    path = bad / "metrics.json"
    text = path.read_text()
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        os.symlink("/dev/zero", path)
    else:
        path.write_text({"list": "[1, 2]", "nested": "[" * 100_000 + "]" * 100_000,
                         "big-int": text.replace('"mIoU": ', '"mIoU": 1' + "0" * 400 + ', "was": ', 1),
                         "infinity": text.replace('"mIoU": ', '"mIoU": Infinity, "was": ', 1),
                         "class-big-int": json.dumps({**json.loads(text), "per_class_iou": {
                             **json.loads(text)["per_class_iou"], "aeroplane": 10 ** 400}})}[kind])
    # a subprocess, so that a hang is a timeout rather than a stuck test run
    done = subprocess.run([sys.executable, "-m", "c2fbench.cli.main", "compare", str(good), str(bad),
                           "--out", str(tmp_path / "cmp")], capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}: "), done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("args, words", [(["--seed", "-1"], "--seed': -1 is not in the range x>=0"),
                                         (["--bootstrap", "10000000"], "--bootstrap': 10000000 is not in the range")])
def test_a_negative_seed_or_a_runaway_resample_count_is_one_line(tmp_path, args, words):
    result = CliRunner().invoke(cli, ["compare", str(tmp_path), str(tmp_path), *args])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and words in lines[0], result.output


def test_an_interval_that_excludes_zero_never_prints_a_zero_bound():
    from c2fbench.report.cells import signed_interval

    assert signed_interval(1.234, 5.678) == "[+1.23, +5.68]"
    assert signed_interval(0.0, 0.0) == "[+0.00, +0.00]"
    assert signed_interval(0.003, 0.5) == "[+0.003, +0.500]"  # excludes 0: must not read [+0.00, ...]
    assert signed_interval(-0.4, -0.00004) == "[-0.40000, -0.00004]"
    low, high = (float(v) for v in signed_interval(1e-9, 2.0).strip("[]").split(", "))
    assert low >= 0 and high == 2.0  # at most 6 digits: a bound of 1e-9 prints +0.000000, still not negative


def test_compare_out_refuses_a_folder_holding_other_results(voc_tree, tmp_path):
    good = scored(voc_tree, tmp_path, "good", 0.1, 1)
    before = {p.name: p.read_bytes() for p in good.iterdir()}
    r = CliRunner().invoke(cli, ["compare", str(good), str(good), "--out", str(good)])
    assert r.exit_code == 2 and r.output.startswith("error:") and "is RESULT_A" in r.output  # --out is an input
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before
    again = CliRunner().invoke(cli, ["compare", str(good), str(good), "--out", str(tmp_path / "c")])
    assert again.exit_code == 0
    assert CliRunner().invoke(cli, ["compare", str(good), str(good), "--out", str(tmp_path / "c")]).exit_code == 0
