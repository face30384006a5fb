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
