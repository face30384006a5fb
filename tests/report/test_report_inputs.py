"""``c2fbench report`` refuses results that parse but are malformed: one line naming the file
and the key, exit status 2, and nothing written (an earlier report left as it was)."""

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from c2fbench.cli.main import cli
from report_helpers import fake_semantic, write_run

BIG = 10**400


def _set(path):
    """A mutation that sets ``data[k0][k1]... = value``."""
    def apply(data, value):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return apply


# (name, key path, value, the key as the message names it); values Python's json reads fine
SEMANTIC_CASES = [
    ("infinite mIoU", ["mIoU"], float("inf"), "mIoU"),
    ("NaN class IoU", ["per_class_iou", "cat"], float("nan"), "per_class_iou[cat]"),
    ("400-digit mIoU", ["mIoU"], BIG, "mIoU"),
    ("percent out of range", ["aAcc"], 100.5, "aAcc"),
    ("interval text", ["mIoU_ci95"], "abc", "mIoU_ci95"),
    ("interval of one", ["mIoU_ci95"], [1], "mIoU_ci95"),
    ("interval reversed", ["mIoU_ci95"], [60.0, 40.0], "mIoU_ci95"),
    ("matrix of strings", ["confusion_matrix"], [["a"] * 21] * 21, "confusion_matrix[0][0]"),
    ("ragged matrix", ["confusion_matrix"], [[1] * 21] * 20 + [[1] * 3], "confusion_matrix"),
    ("matrix of the wrong size", ["confusion_matrix"], [[1] * 3] * 3, "confusion_matrix"),
    ("400-digit count", ["confusion_matrix", 2, 3], BIG, "confusion_matrix[2][3]"),
    ("negative count", ["confusion_matrix", 0, 0], -1, "confusion_matrix[0][0]"),
    ("classes a string", ["classes"], "background", "classes"),
    ("num_images text", ["num_images"], "5", "num_images"),
    ("synthetic not a flag", ["data", "synthetic"], "no", "data.synthetic"),
    ("model not text", ["source", "model"], 3, "source.model"),
]


def _refused(args, out, file, key):
    outcome = CliRunner().invoke(cli, ["report", *map(str, args), "--out", str(out)])
    lines = outcome.output.strip().splitlines()
    assert outcome.exit_code == 2, outcome.output
    assert len(lines) == 1 and lines[0].startswith("error:"), outcome.output
    assert str(file) in lines[0] and key in lines[0], (key, lines[0])
    return lines[0]


def _dump(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))  # writes NaN / Infinity as Python's json does
    return path


def test_a_well_formed_result_is_accepted(tmp_path):
    """The control: the fabricated result the cases below break is itself reported."""
    _dump(tmp_path / "ok" / "metrics.json", fake_semantic(50.0) | {"mIoU_ci95": [40.0, 60.0]})
    outcome = CliRunner().invoke(cli, ["report", str(tmp_path / "ok"), "--out", str(tmp_path / "rep")])
    assert outcome.exit_code == 0, outcome.output
    assert (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.parametrize("name, path, value, key", SEMANTIC_CASES, ids=[c[0] for c in SEMANTIC_CASES])
def test_a_malformed_eval_result_is_refused(tmp_path, name, path, value, key):
    data = fake_semantic(50.0)
    _set(path)(data, value)
    file = _dump(tmp_path / "res" / "metrics.json", data)
    _refused([tmp_path / "res"], tmp_path / "rep", file, key)
    assert not (tmp_path / "rep").exists()


def test_malformed_runs_profiles_and_parity_checks_are_refused(tmp_path):
    out = tmp_path / "rep"
    cases = []
    run = write_run(tmp_path / "run-a", {"rounds": 2, "refine_grabcut": True}, [40.0, 45.0])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for name, change, key in [
            ("train_masks a string", lambda ls: ls[1].__setitem__("train_masks", "masks"), "line 2 train_masks"),
            ("val mIoU infinite", lambda ls: ls[0]["val"].__setitem__("mIoU", float("inf")), "line 1 val.mIoU"),
            ("losses of text", lambda ls: ls[0].__setitem__("losses", "1.0"), "line 1 losses"),
            ("round logged twice", lambda ls: ls[1].__setitem__("round", 1), "line 2 round"),
            ("a val of another benchmark", lambda ls: ls[1]["val"].__setitem__("benchmark", "voc-train"),
             "line 2 val.benchmark")]:
        broken = copy.deepcopy(lines)
        change(broken)
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in broken))
        cases.append(([folder], folder / "metrics.jsonl", key))
    bad_config = write_run(tmp_path / "run-b", {"refine_grabcut": "yes"}, [40.0])
    cases.append(([bad_config], bad_config / "config.json", "refine_grabcut"))

    profile = {"results": [{"backend": "torch", "precision": "fp32", "shape": [1, 3, 64, 64], "median_ms": 4.0,
                            "throughput_ips": 250.0}]}
    for name, (field, value) in {"nan latency": ("median_ms", float("nan")),
                                 "shape of text": ("shape", [1, 3, "64", 64]),
                                 "huge threads": ("threads", BIG)}.items():
        broken = copy.deepcopy(profile)
        broken["results"][0][field] = value
        file = _dump(tmp_path / name.replace(" ", "-") / "profile.json", broken)
        cases.append(([file], file, f"results[0].{field}"))

    parity = {"benchmark": "voc-val", "reference": fake_semantic(50.0, model="/m/a.pt"),
              "deployed": fake_semantic(50.0, model="/m/a.onnx"), "tolerance": 0.1, "delta": 0.0,
              "logits": {"argmax_agreement": 99.0}}
    for name, change, key in [
            ("tolerance text", lambda p: p.__setitem__("tolerance", "0.1"), "tolerance"),
            ("agreement over 100", lambda p: p["logits"].__setitem__("argmax_agreement", 101.0),
             "logits.argmax_agreement"),
            ("deployed NaN", lambda p: p["deployed"].__setitem__("mIoU", float("nan")), "deployed.mIoU")]:
        broken = copy.deepcopy(parity)
        change(broken)
        file = _dump(tmp_path / name.replace(" ", "-") / "parity.json", broken)
        cases.append(([file], file, key))

    for args, file, key in cases:
        _refused(args, out, file, key)
        assert not out.exists()


def _npz(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_a_malformed_per_image_npz_is_refused(tmp_path):
    """per_image.npz beside a metrics.json is read by the paired section: checked first."""
    ids = np.array(["a", "b", "c"])
    good = np.zeros((3, 21, 21), dtype=np.int64)  # per-image matrices that sum to the metrics' own
    good[0] = fake_semantic(50.0)["confusion_matrix"]
    cases = {
        "corrupt": lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"),
        "object array": lambda p: _npz(p, ids=ids, confusion=np.array([None, 1, "x"], dtype=object)),
        "wrong shape": lambda p: _npz(p, ids=ids, confusion=np.ones((3, 4, 4), dtype=np.int64)),
        "float counts": lambda p: _npz(p, ids=ids, confusion=good.astype(np.float64)),
        "fewer images": lambda p: _npz(p, ids=ids[:2], confusion=good[:2]),
        "another result's": lambda p: _npz(p, ids=ids, confusion=good + 1),
        "no ids": lambda p: _npz(p, confusion=good),
    }
    for name, write in cases.items():
        folder = tmp_path / name.replace(" ", "-")
        _dump(folder / "metrics.json", fake_semantic(50.0))
        write(folder / "per_image.npz")
        message = _refused([folder], tmp_path / "rep", folder / "per_image.npz", "")
        assert "Traceback" not in message, name
        assert not (tmp_path / "rep").exists()
    fine = tmp_path / "fine"  # the control: a well-formed one is accepted
    _dump(fine / "metrics.json", fake_semantic(50.0))
    _npz(fine / "per_image.npz", ids=ids, confusion=good)
    assert CliRunner().invoke(cli, ["report", str(fine), "--out", str(tmp_path / "rep")]).exit_code == 0


def test_a_refusal_leaves_an_earlier_report_as_it_was(tmp_path):
    _dump(tmp_path / "ok" / "metrics.json", fake_semantic(50.0))
    out = tmp_path / "rep"
    assert CliRunner().invoke(cli, ["report", str(tmp_path / "ok"), "--out", str(out)]).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    file = _dump(tmp_path / "bad" / "metrics.json", fake_semantic(float("inf")))
    _refused([tmp_path / "ok", tmp_path / "bad"], out, file, "mIoU")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "ok", "rep"]  # no staging folder left


def test_a_label_or_path_too_long_for_the_filesystem(tmp_path):
    """LABEL=PATH with a 5,000-character label: the label is kept (its figure's file name is cut
    to 60 characters); a path that long is one line naming it."""
    from click.testing import CliRunner

    from c2fbench.cli.main import cli
    from report_helpers import fake_semantic

    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "metrics.json").write_text(json.dumps(fake_semantic(50.0, classes=["bg", "a", "b"])))
    label = "é" + "a" * 5000
    result = CliRunner().invoke(cli, ["report", f"{label}={tmp_path / 'res'}", "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0 and "Warning" not in result.output, result.output
    assert label in (tmp_path / "rep" / "report.md").read_text()
    assert max(len(p.name) for p in (tmp_path / "rep" / "figures").iterdir()) <= 80
    result = CliRunner().invoke(cli, ["report", str(tmp_path / ("b" * 5000)), "--out", str(tmp_path / "rep2")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].endswith("File name too long"), result.output
    assert not (tmp_path / "rep2").exists()
