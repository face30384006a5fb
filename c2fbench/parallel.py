"""Process pools that are safe to start from any point of a program."""

from __future__ import annotations

import multiprocessing
import os


def default_workers() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def start_method() -> str:
    """fork starts workers fastest, but forking a process whose native thread pools are
    already running (OpenCV, OpenMP after a model or scikit-learn ran) can deadlock the
    children. Fork only a single-threaded process; otherwise use a clean forkserver."""
    methods = multiprocessing.get_all_start_methods()
    try:
        single_threaded = len(os.listdir("/proc/self/task")) == 1
    except OSError:
        single_threaded = False
    if "fork" in methods and single_threaded:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def pool(workers: int, *, initializer=None, initargs=()):
    """A multiprocessing pool of ``workers`` processes started with :func:`start_method`."""
    ctx = multiprocessing.get_context(start_method())
    return ctx.Pool(workers, initializer=initializer, initargs=initargs)


def exit_with_parent() -> None:
    """A pool's ``initializer``: end this worker as soon as the process that started it ends,
    however it ends. A SIGTERM or SIGKILL gives that process no chance to stop its workers,
    and a worker left running would go on writing files a rerun resumes (and holds their
    locks). Every write being atomic, stopping at any moment loses only the unfinished step."""
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])  # readable once the parent's end of the pipe closes: it has ended
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
