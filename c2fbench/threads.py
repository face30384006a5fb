"""How many threads torch uses: on purpose, not by default.

torch starts one thread per core. On cores shared with another process its OpenMP threads
then wait for each other: measured on the 2-core machine (README, "Threads"), two threads
trained about 10x slower than one while another process kept a core busy, but 1.6x faster
than one on idle cores. The default is therefore the number of cores not already busy:
the CPUs this process may use minus the 1-minute load average (rounded), at least 1.
"""

from __future__ import annotations

import os

from c2fbench.parallel import default_workers


def default_threads() -> int:
    """Cores this process may use that the load average says are idle (at least 1)."""
    cpus = default_workers()
    try:
        busy = round(os.getloadavg()[0])
    except OSError:  # no load average on this platform
        busy = 0
    return max(1, min(cpus, cpus - busy))


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (``None``: :func:`default_threads`); returns the count."""
    import torch

    n = default_threads() if threads is None else threads
    torch.set_num_threads(n)
    return n
