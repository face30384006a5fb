"""The same `c2fbench demo` gives the same numbers whatever the load and --workers (issue 24).

The command runs as a user runs it, in a fresh process (so OpenMP starts as the command line
starts it), with its default thread count: once on idle cores with one worker, once while
another process keeps a core busy with two. Before, the thread count followed the load at
start, and the second run trained with one torch thread instead of two.
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
                           "--recipe", "tiny", "--workers", str(workers)], env=env, capture_output=True, text=True)


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
def test_tiny_demo_same_numbers_idle_and_with_a_busy_core(tmp_path):
    idle = _demo(tmp_path / "idle", workers=1)
    assert idle.returncode == 0, idle.stderr[-2000:]
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
    assert _numbers(tmp_path / "busy") == _numbers(tmp_path / "idle")
    # both record and print the same thread count, and the workers each was given
    records = [json.loads((tmp_path / name / "run" / "config.json").read_text())["numerics"] for name in ("idle", "busy")]
    assert records[0]["torch_threads"] == records[1]["torch_threads"] == len(os.sched_getaffinity(0))
    assert [r["workers"] for r in records] == [1, 2]
    first = [p.stderr.lstrip().splitlines()[0] for p in (idle, busy)]  # messages go to stderr
    assert all(line.startswith("numerics: torch ") for line in first), first
    line = json.loads((tmp_path / "busy" / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["numerics"]["torch_threads"] == records[1]["torch_threads"]
