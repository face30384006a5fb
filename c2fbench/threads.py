"""How many threads torch uses: on purpose, not by default.

torch starts one thread per core. On cores shared with another process its OpenMP threads
then wait for each other: measured on the 2-core machine (README, "Threads"), two threads
trained about 10x slower than one while another process kept a core busy, but 1.6x faster
than one on idle cores. The default is therefore the number of cores not busy now: the
CPUs this process may use minus how many of them other processes kept busy over the last
quarter of a second (from /proc/stat, rounded), at least 1. Where /proc/stat cannot be
read, the 1-minute load average stands in for "busy now"; it lags by a minute, so right
after a heavy step (an install, a test run) it would still count those cores as busy.
"""

from __future__ import annotations

import os
import time

from c2fbench.parallel import default_workers

SAMPLE_SECONDS = 0.25


def default_threads() -> int:
    """Cores this process may use that are idle now (at least 1)."""
    cpus = default_workers()
    busy = busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            busy = 0.0
    return max(1, min(cpus, cpus - round(busy)))


def busy_cores(interval: float = SAMPLE_SECONDS) -> float | None:
    """How many of this process's CPUs were busy over the next ``interval`` seconds: each
    CPU's busy share of its time (user, nice, system, irq, softirq, steal: all but idle and
    iowait), summed; None when /proc/stat is not there (not Linux) or unreadable."""
    first = _cpu_times()
    if first is None:
        return None
    time.sleep(interval)
    second = _cpu_times()
    if second is None:
        return None
    busy = 0.0
    for cpu, (busy0, total0) in first.items():
        busy1, total1 = second.get(cpu, (busy0, total0))
        if total1 > total0:
            busy += (busy1 - busy0) / (total1 - total0)
    return busy


def _cpu_times() -> dict[int, tuple[int, int]] | None:
    """{cpu: (busy ticks, total ticks)} for the CPUs this process may run on."""
    text = _read_proc_stat()
    if text is None:
        return None
    mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    times = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        cpu = int(name[3:])
        if mine is not None and cpu not in mine:
            continue
        ticks = [int(v) for v in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
        times[cpu] = (sum(ticks) - idle, sum(ticks))
    return times or None


def _read_proc_stat() -> str | None:
    try:
        with open("/proc/stat") as f:
            return f.read()
    except OSError:
        return None


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (``None``: :func:`default_threads`); returns the count."""
    import torch

    n = default_threads() if threads is None else threads
    torch.set_num_threads(n)
    return n
