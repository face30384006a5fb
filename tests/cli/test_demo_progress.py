"""What the demo says of where it is (issue 28, item 4): ``[k/N]`` stage lines with a rough
estimate of the time left, the branch announced as the Fig. 6 ablation, the deploy step's
parity and latency lines, and the closing line. The full tiny demo runs in
test_demo_numerics.py; here each piece is checked on its own, against hand-computed values."""

import json

import pytest

from c2fbench.console import Stages, about_left, clock_text, duration_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stages(capsys, clock):
    stages = Stages([("a", "first", 10), ("b", "second", 30), ("c", "third", 60)], clock=clock)
    capsys.readouterr()
    return stages


def test_stage_lines_count_and_scale_the_weights_by_the_time_taken(capsys):
    clock = FakeClock()
    stages = _stages(capsys, clock)
    stages.start("a")
    assert capsys.readouterr().err == "[1/3] first (0:00 elapsed)\n"  # nothing timed yet: no estimate
    clock.now += 20.0
    stages.start("b")
    # 20 s for a weight of 10: 2 s a unit; 90 units left -> 180 s
    assert stages.left() == pytest.approx(180.0)
    assert capsys.readouterr().err == "[2/3] second (0:20 elapsed, about 3 min left)\n"
    clock.now += 40.0
    stages.within(0.5, "half done")  # 10 + 15 units in 60 s: 2.4 s a unit, 75 left -> 180 s
    assert stages.left() == pytest.approx(180.0)
    assert capsys.readouterr().err == "[2/3] second: half done (1:00 elapsed, about 3 min left)\n"
    clock.now += 20.0
    stages.start("c")  # 40 units in 80 s: 2 s a unit, 60 left -> 120 s
    assert stages.left() == pytest.approx(120.0)
    assert capsys.readouterr().err == "[3/3] third (1:20 elapsed, about 2 min left)\n"
    clock.now += 100.0
    assert duration_text(stages.elapsed()) == "3 min 0 s"


def test_no_estimate_before_some_work_was_timed(capsys):
    clock = FakeClock()
    stages = _stages(capsys, clock)
    stages.start("a")
    clock.now += Stages.MEASURED_S - 1  # a stage skipped on a rerun, say
    stages.start("b")
    assert stages.left() is None
    assert capsys.readouterr().err.endswith("(0:09 elapsed)\n")


def test_time_texts():
    assert [about_left(s) for s in (5, 29, 31, 89, 91, 600)] == [
        "under a minute left", "under a minute left", "about 1 min left", "about 1 min left", "about 2 min left",
        "about 10 min left"]
    assert [clock_text(s) for s in (0, 59.9, 61, 727.2)] == ["0:00", "0:59", "1:01", "12:07"]
    assert [duration_text(s) for s in (42, 59.6, 727.2)] == ["42 s", "1 min 0 s", "12 min 7 s"]


def _cfg(recipe: str):
    from trainers.resolve import resolve_config

    return resolve_config(recipe=recipe, config=None, overrides={}, task="semantic")


def test_the_stage_count_follows_the_recipe_and_pretraining():
    from trainers.demo import demo_stages

    demo = demo_stages(_cfg("demo"), pretrain=False)
    assert demo.keys == ["data", "run", "eval", "deploy", "baseline", "coarse", "boxes", "branch", "latency",
                         "report"]
    assert "3 rounds" in demo.labels["run"] and "rounds 2-3" in demo.labels["branch"]
    tiny = demo_stages(_cfg("tiny"), pretrain=True)
    assert tiny.keys[:3] == ["data", "pretrain", "run"] and len(tiny.keys) == 11
    assert "2 rounds" in tiny.labels["run"] and "round 2 refined" in tiny.labels["branch"]
    one = demo_stages(_cfg("demo").updated(rounds=1), pretrain=False)
    assert "nothing to refine" in one.labels["branch"] and "from the run" not in one.labels["branch"]


def test_the_weights_are_the_readme_timing():
    """3 rounds as timed in the README: round 0's masks 54 s at 5 GrabCut iterations (2 s of
    coarse masks, 52 s of GrabCut; the recipe's 3 take 0.72x: 39.44 s), each round 60 s of
    training and 4 s of val, 14 s of predictions and 28 x 0.72 = 20.16 s of GrabCut between
    rounds."""
    from trainers.demo import demo_stages, run_weights

    total, ends = run_weights(3, 1, 54, 42)
    assert total == 54 + 3 * 64 + 2 * 42 and ends == {1: 114, 2: 220, 3: 326}
    total, ends = run_weights(3, 2, 4, 14)  # the branch: round 1 revalidated, rounds 2 and 3 trained
    assert total == 4 + 2 * 64 + 14 and ends == {2: 64, 3: 142}
    weights = demo_stages(_cfg("demo"), pretrain=False).weights
    assert weights["run"] == pytest.approx(39.44 + 3 * 64 + 2 * 34.16)  # 299.76
    assert weights["branch"] == 146 and weights["coarse"] == weights["boxes"] == 64
    assert weights["data"] == 23 and sum(weights[k] for k in ("baseline", "eval", "deploy", "latency", "report")) == 30
    # beside (two workers): the main run carries 0.80 of the four runs' 299.76 + 146 + 64 + 64 s,
    # the side runs 0.015 of their own
    beside = demo_stages(_cfg("demo"), pretrain=False, beside=True).weights
    assert beside["run"] == pytest.approx(0.80 * 573.76) and beside["branch"] == pytest.approx(0.015 * 146)
    assert beside["coarse"] == beside["boxes"] == pytest.approx(0.015 * 64) and beside["data"] == 23


def test_a_round_note_only_after_the_last_epoch_of_a_round_but_the_last(capsys):
    from trainers.demo import _round_notes

    cfg = _cfg("demo")  # 3 rounds of 8 epochs
    clock = FakeClock()
    stages = Stages([("run", "recursive run", 330), ("rest", "the rest", 330)], clock=clock)
    stages.start("run")
    capsys.readouterr()
    note = _round_notes(stages, cfg, "run")
    for at, r, epoch in ((200, 1, 7), (228, 1, 8), (440, 2, 8), (660, 3, 8)):
        clock.now = 1000.0 + at
        note(r, epoch)
    lines = capsys.readouterr().err.splitlines()
    # the run's 330 units end rounds 1 and 2 at 99.44 and 197.6 of its 299.76 s (README timing):
    # round 1 trained: 109.47 of 660 units in 228 s, 2.08 s a unit, 550.53 left -> 1147 s; round
    # 2: 217.53 units in 440 s, 442.47 left -> 895 s; no line for an epoch before the last, nor
    # round 3
    assert lines == ["[1/2] recursive run: round 1 of 3 trained (3:48 elapsed, about 19 min left)",
                     "[1/2] recursive run: round 2 of 3 trained (7:20 elapsed, about 15 min left)"]


def test_the_branch_is_announced_as_the_ablation_not_as_a_resume(tmp_path):
    from trainers.demo import branch_message

    fresh = branch_message(tmp_path / "run-no-grabcut", tmp_path / "run", existed=False)
    again = branch_message(tmp_path / "run-no-grabcut", tmp_path / "run", existed=True)
    for message in (fresh, again):
        assert message.startswith("the Fig. 6 ablation ") and "resuming" not in message
    assert f"from round 1 of {tmp_path / 'run'}" in fresh and "not retrained" in fresh
    assert again == f"the Fig. 6 ablation continues in {tmp_path / 'run-no-grabcut'}"


def _parity(deployed: float, reference: float, within: bool) -> dict:
    return {"benchmark": "voc-val", "metric": "mIoU", "reference": {"mIoU": reference}, "deployed": {"mIoU": deployed},
            "delta": deployed - reference, "tolerance": 0.1, "within_tolerance": within}


def test_parity_lines():
    from deploy.demo import parity_line

    assert parity_line(_parity(43.03, 43.02, True), "INT8") == (
        "parity on voc-val: ONNX Runtime INT8 mIoU 43.03, PyTorch 43.02 (delta +0.010 points, within the 0.1 "
        "tolerance)")
    assert "delta -0.500 points, OUTSIDE the 0.1 tolerance" in parity_line(_parity(42.52, 43.02, False), "FP32")


def test_latency_lines_give_median_ratios_and_stability():
    from deploy.demo import latency_lines
    from deploy.profile import add_ratios

    rows = [{"backend": "torch", "precision": "fp32", "median_ms": 6.0, "unstable": False},
            {"backend": "onnxruntime", "precision": "fp32", "median_ms": 4.0, "unstable": False},
            {"backend": "onnxruntime", "precision": "int8", "median_ms": 2.5, "unstable": True}]
    for row in rows:
        row.update(shape=[1, 3, 128, 128], threads=2, model="m.onnx" if row["precision"] == "int8" else "m.pt")
    add_ratios(rows)  # the profile's own ratios: 6/4, 6/2.5 and 4/2.5
    assert latency_lines(rows) == [
        "latency torch fp32: median 6.00 ms at 1x3x128x128, 2 threads; stable",
        "latency onnxruntime fp32: median 4.00 ms, speed-up 1.50x vs torch fp32; stable",
        "latency onnxruntime int8: median 2.50 ms, speed-up 2.40x vs torch fp32 (unstable), 1.60x vs onnxruntime fp32 "
        "(unstable); unstable"]


def test_the_ending_gives_the_total_time_and_three_numbers(tmp_path):
    from trainers.demo import demo_ending

    run = tmp_path / "run"
    run.mkdir()
    log = [{"round": r, "val": {"mIoU": m}} for r, m in ((1, 41.56), (2, 43.2), (3, 43.02))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in log))
    clock = FakeClock()
    stages = Stages([("a", "all", 1)], clock=clock)
    clock.now += 727.2
    deployed = {"parity": _parity(43.02, 43.02, True), "int8_parity": _parity(43.03, 43.02, True)}
    assert demo_ending(stages, run, deployed) == ("demo done in 12 min 7 s: val mIoU 41.56 after round 1, 43.02 after "
                                                  "round 3, 43.03 for the final model in ONNX Runtime INT8")
    assert demo_ending(stages, run, {"parity": _parity(43.0, 43.02, True)}).endswith("43.00 for the final model in "
                                                                                    "ONNX Runtime FP32")
