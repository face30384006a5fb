"""How many threads torch uses: fixed by the command line or the recipe, never by the load.

A run's floats follow its torch thread count (c2fbench/numerics.py). The count used to be
the cores idle when a command started, so the same ``c2fbench demo`` gave other numbers
when another process happened to be running (issue 24). It is now ``--threads``, else the
recipe's ``threads``, else the CPUs this process may use: none of them moves with the load.

What a busy core costs is decided by how the threads wait, not by how many there are.
OpenMP's threads spin at every barrier by default, so a thread whose partner shares a core
with another process burns that core's time slices waiting. The command line starts OpenMP
with ``OMP_WAIT_POLICY=PASSIVE`` (a waiting thread sleeps) unless the environment sets a
policy; ``benchmarks/threads_busy.py`` measures both policies on idle and busy cores.
"""

from __future__ import annotations

import os

from c2fbench.parallel import default_workers

# Read by libgomp when torch is first imported, so it is set before that (cli/main.py).
WAIT_POLICY = "PASSIVE"


def passive_waiting() -> None:
    """Ask OpenMP for passive waiting unless the environment chose a policy; call before
    torch is imported (later it has no effect on this process, only on its children)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def default_threads() -> int:
    """The CPUs this process may use: a property of the machine, not of its load."""
    return default_workers()


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (``None``: :func:`default_threads`); returns the count."""
    import torch

    n = default_threads() if threads is None else threads
    torch.set_num_threads(n)
    return n
