"""The demo's side runs (trainers/demo.py SideRuns): when each may start, and where the side
process's output goes. That they give the main process's numbers is checked end to end in
tests/cli/test_demo_numerics.py (one worker against two)."""

import subprocess
import sys
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from trainers.demo import SideRuns, _output_to


def test_each_side_run_starts_once_the_main_run_files_it_needs_exist(tmp_path, capsys):
    side = SideRuns(None, tmp_path / "data", tmp_path, 1, notes=None)  # one worker: no side process
    side.ready("coarse")  # the coarse masks exist, GrabCut is running: Table I's coarse round
    assert list(side.futures) == ["coarse"]
    side.ready("enhanced")  # the enhanced masks exist: Table I's boxes round
    side.ready("enhanced")
    assert list(side.futures) == ["coarse", "boxes"]
    assert "Fig. 6" not in capsys.readouterr().err
    side.ready("round 1")  # round 1 is complete: the branch
    assert list(side.futures) == ["coarse", "boxes", "branch"]
    side.ready("round 1")
    assert list(side.futures) == ["coarse", "boxes", "branch"]
    assert capsys.readouterr().err.count("the Fig. 6 ablation starts in") == 1  # said once, when it can start


def test_a_later_milestone_starts_everything_before_it_in_order(tmp_path):
    side = SideRuns(None, tmp_path / "data", tmp_path, 1, notes=None)  # a resumed main run: no masks made
    side.ready("round 1")
    assert list(side.futures) == ["coarse", "boxes", "branch"]


# run in a fresh process: pytest's own capture replaces sys.stdout, which a side process's does not
OUTPUT_SCRIPT = """
import os, sys
from pathlib import Path
from trainers.demo import _output_to
log = Path(sys.argv[1])
print("before", file=sys.stderr, flush=True)
with _output_to(log):
    print("python stdout")
    print("python stderr", file=sys.stderr)
    os.write(1, b"fd 1\\n")  # what a library writes below Python (OpenCV, oneDNN)
    os.write(2, b"fd 2\\n")
with _output_to(log):
    print("appended")
print("after")
"""


def test_output_goes_to_the_log_by_file_descriptor_and_comes_back(tmp_path):
    log = tmp_path / "logs" / "side.log"
    done = subprocess.run([sys.executable, "-c", OUTPUT_SCRIPT, str(log)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()  # Python's buffered lines may come after the descriptors'
    assert sorted(lines[:4]) == ["fd 1", "fd 2", "python stderr", "python stdout"] and lines[4:] == ["appended"]
    assert (done.stdout, done.stderr) == ("after\n", "before\n")


def test_no_log_changes_nothing(capfd):
    with _output_to(None):
        print("here")
    assert capfd.readouterr().out == "here\n"


def test_a_side_process_that_died_says_which_run_and_how_to_resume(tmp_path):
    side = SideRuns(None, tmp_path / "data", tmp_path, 1, notes=None)
    died = Future()
    died.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
    side.pool, side.futures["boxes"] = object(), died  # as a pool whose process was killed leaves it
    with pytest.raises(RuntimeError, match=r"while training .*run-boxes \(killed\?\); rerun the same"):
        side.result("boxes")


# a main process with one side worker: prints the worker's pid, then waits to be killed
KILLED_SCRIPT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from c2fbench.parallel import exit_with_parent
if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    pool = ProcessPoolExecutor(1, mp_context=context, initializer=exit_with_parent)
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)  # a side run's training, as far as the worker can tell
    time.sleep(120)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_side_worker_ends_when_its_main_process_is_killed(tmp_path, method):
    """SIGKILL gives the main process no chance to stop its side process; the worker must
    notice by itself rather than go on writing runs a rerun would resume."""
    import os
    import signal
    import time

    script = tmp_path / "main.py"
    script.write_text(KILLED_SCRIPT)
    main = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(main.stdout.readline())
        os.kill(worker, 0)  # alive while its main process is
        main.kill()
        main.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                return
            with open(f"/proc/{worker}/stat") as stat:  # a zombie waiting for init has ended too
                if stat.read().split(") ")[-1].startswith("Z"):
                    return
            time.sleep(0.1)
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"the side worker ({method}) outlived its killed main process by 20 s")
    finally:
        if main.poll() is None:
            main.kill()
