"""`c2fbench demo` end to end, and the same numbers whatever the load and --workers (issue 24).

The command runs as a user runs it, in a fresh process (so OpenMP starts as the command line
starts it), with its default thread count: once on idle cores with one worker, once while
another process keeps a core busy with two. Before, the thread count followed the load at
start, and the second run trained with one torch thread instead of two. The idle run's
outputs are also checked end to end (every stage the demo promises), so the suite runs the
tiny demo twice, not three times.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest


SCORES = ("mIoU", "aAcc", "mAcc", "fwIoU", "per_class_iou", "confusion_matrix")


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def _demo(out, *, workers: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    return subprocess.run([sys.executable, "-m", "c2fbench.cli.main", "demo", "--out", str(out), "--preset", "tiny",
                           "--recipe", "tiny", "--workers", str(workers), "--pretrain"], env=env, capture_output=True,
                          text=True)


def _check_end_to_end(demo, output: str) -> None:
    """Every stage the demo promises left its outputs, and the terminal said so."""
    metrics = json.loads((demo / "eval-voc-val" / "metrics.json").read_text())
    assert metrics["benchmark"] == "voc-val" and "mIoU_ci95" in metrics and metrics["data"]["synthetic"] is True
    rounds = (demo / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rounds) == 2 and (demo / "run-coarse-masks" / "final.pt").is_file()
    boxes = json.loads((demo / "run-boxes" / "config.json").read_text())
    assert boxes["initial_boxes"] is True and boxes["rounds"] == 1
    backbone = json.loads((demo / "run" / "config.json").read_text())["backbone_weights"]
    assert backbone == str(demo / "backbone.pt") and (demo / "backbone.pt").is_file()
    for fragment in ("colour baseline", "coarse (no GrabCut)", "round 2", "run directory", "report:",
                     "Table I", "Bounding Boxes", "35.2", "held-out top-1"):
        assert fragment in output, fragment
    branch = [json.loads(line) for line in (demo / "run-no-grabcut" / "metrics.jsonl").open()]
    assert [line["round"] for line in branch] == [1, 2]
    assert json.loads((demo / "run-no-grabcut" / "config.json").read_text())["refine_grabcut"] is False
    assert json.loads((demo / "deploy" / "parity.json").read_text())["within_tolerance"]
    int8 = json.loads((demo / "deploy" / "int8" / "profile.json").read_text())["results"]
    assert [(e["backend"], e["precision"]) for e in int8] == [("onnxruntime", "int8")]
    # no policy in the environment (_demo): latency under OpenMP's own, training under passive waiting
    assert "OMP_WAIT_POLICY" not in json.loads((demo / "deploy" / "profile.json").read_text())["numerics"]["environment"]
    assert json.loads((demo / "run" / "config.json").read_text())["numerics"]["environment"]["OMP_WAIT_POLICY"] == \
        "PASSIVE"
    assert json.loads((demo / "deploy" / "int8" / "parity.json").read_text())["deployed"]["mIoU"] >= 0
    page = (demo / "report" / "report.html").read_text()
    assert "| int8 |" in (demo / "report" / "report.md").read_text()  # the INT8 row of the latency table
    for section in ("PASCAL VOC 2012 leaderboard", "Training rounds (Fig. 6)", "Deployment", "without GrabCut",
                    "final model (synthetic)", "trained on bounding boxes"):
        assert section in page, section
    assert str((demo / "report" / "report.html").resolve()) in "".join(output.split())
    # issue 28: every stage announced as [k/N], N known up front; the branch is the ablation, not a resume
    stages = [line.split("]")[0] for line in output.splitlines() if line.startswith("[")]
    assert stages and stages[0] == "[1/11" and stages[-1] == "[11/11", stages  # 11 with --pretrain
    assert "resuming the run" not in output and "Fig. 6 ablation" in output
    assert "demo done in" in output and "parity on voc-val" in output and "latency torch fp32" in output


def _check_side_run_error(demo) -> None:
    """The error of a run in the side process reaches the command: one line naming the file,
    exit 2, and the runs already done left as they were."""
    config = demo / "run-boxes" / "config.json"
    config.write_text('{"task": ')
    done = _contents(demo)
    again = _demo(demo, workers=2)
    assert again.returncode == 2
    errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {config}: not valid JSON (Expecting value: line 1 column 10 (char 9))"], \
        again.stderr[-2000:]
    assert "Traceback" not in again.stderr
    assert _contents(demo) == done


def _contents(demo) -> dict:
    """The bytes of every model and metrics file of the demo's runs, by path."""
    return {p: p.read_bytes() for pattern in ("*.pt", "metrics.jsonl") for p in demo.rglob(pattern)}


def _numbers(out) -> dict:
    """Every number the two runs must share: each run's rounds (losses, masks, val) and the final eval."""
    runs = {}
    for run in ("run", "run-no-grabcut", "run-coarse-masks", "run-boxes"):
        lines = [json.loads(line) for line in (out / run / "metrics.jsonl").read_text().splitlines()]
        # everything but where and when (val's time and data root) and the record of the workers
        runs[run] = [{**{k: v for k, v in line.items() if k not in ("numerics", "val")},
                      "val": {k: line["val"][k] for k in SCORES}} for line in lines]
    final = json.loads((out / "eval-voc-val" / "metrics.json").read_text())
    return {"runs": runs, "final": {k: final[k] for k in (*SCORES, "mIoU_ci95")}}


@pytest.mark.slow
def test_tiny_demo_end_to_end_and_the_same_numbers_idle_and_with_a_busy_core(tmp_path):
    idle = _demo(tmp_path / "idle", workers=1)
    assert idle.returncode == 0, idle.stderr[-2000:]
    _check_end_to_end(tmp_path / "idle", idle.stdout + idle.stderr)
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    try:
        time.sleep(0.5)  # the core is busy when the command starts, as when the old default looked
        busy = _demo(tmp_path / "busy", workers=2)
    finally:
        stop.set()
        spinner.join()
    assert busy.returncode == 0, busy.stderr[-2000:]
    # one worker trains the side runs after the main run in this process, two beside it in another
    assert "beside the main run" not in idle.stderr and busy.stderr.count("trains beside the main run") == 3
    assert sorted(p.name for p in (tmp_path / "busy" / "logs").iterdir()) == [
        "run-boxes.log", "run-coarse-masks.log", "run-no-grabcut.log"]
    assert _numbers(tmp_path / "busy") == _numbers(tmp_path / "idle")
    # both record and print the same thread count, and the workers each was given
    records = [json.loads((tmp_path / name / "run" / "config.json").read_text())["numerics"] for name in ("idle", "busy")]
    assert records[0]["torch_threads"] == records[1]["torch_threads"] == len(os.sched_getaffinity(0))
    assert [r["workers"] for r in records] == [1, 2]
    first = [p.stderr.lstrip().splitlines()[0] for p in (idle, busy)]  # messages go to stderr
    assert all(line.startswith("numerics: torch ") for line in first), first
    line = json.loads((tmp_path / "busy" / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["numerics"]["torch_threads"] == records[1]["torch_threads"]
    # last, as it breaks the busy run's folder: a side run's error
    _check_side_run_error(tmp_path / "busy")
