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
# The policy the environment chose before this process set one (None: OpenMP's default), for
# a child process that times latency (deploy/demo.py).
CHOSEN_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")


def passive_waiting(*, latency: bool = False) -> None:
    """Ask OpenMP for passive waiting unless the environment chose a policy, or unless this
    process measures latency (``latency``); call before torch is imported (later it has no
    effect on this process, only on its children).

    Latency is timed under OpenMP's default policy (spin a while, then sleep), the one a
    deployed model runs with: passive waiting wakes a sleeping thread at every operator, which
    doubled PyTorch eager's latency of a MobileNetV3 DeepLab at 128x128 (22 against 11 ms,
    2 threads) while ONNX Runtime, which has its own thread pool, kept its 3.7 ms
    (benchmarks/README.md, "Profiling under OpenMP's wait policies")."""
    if not latency:
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def latency_environment() -> dict:
    """This process's environment for a child that times latency: the wait policy the user
    chose, else none (OpenMP's default), whatever this process runs under."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if CHOSEN_WAIT_POLICY is not None:
        env["OMP_WAIT_POLICY"] = CHOSEN_WAIT_POLICY
    return env


def is_latency_command(argv: list[str]) -> bool:
    """Whether the command line (without the program name) is ``deploy profile``, whatever
    global options come first (``c2fbench --debug deploy profile ...``)."""
    words = [a for a in argv if not a.startswith("-")]
    return words[:2] == ["deploy", "profile"]


def default_threads() -> int:
    """The CPUs this process may use: a property of the machine, not of its load."""
    return default_workers()


def set_threads(threads: int | None) -> int:
    """Use ``threads`` torch threads (``None``: :func:`default_threads`); returns the count."""
    import torch

    n = default_threads() if threads is None else threads
    torch.set_num_threads(n)
    return n
