"""Timing runtimes, trtexec's way, interleaved: warm-up by time, then runs until both a least
number of iterations and a least duration are done, one inference at a time (see
:mod:`deploy.profile` for the method and what each figure means).

Several runtimes timed in one call take turns, one run each per cycle (A B C A B C ...),
in the warm-up and in the timed loop: a neighbour process that takes a core for a while
slows every runtime's runs alike, instead of the one that happened to be timed then, so
their ratio keeps its meaning. What is left of the interference shows in each runtime's
spread, which :func:`stability` judges.

On CUDA, four CUDA events recorded on the runtime's stream between its three
:class:`c2fbench.inference.Steps` (H2D, compute, D2H) give the GPU's own figures; the stream
is synchronised after the last event only.
"""

from __future__ import annotations

import time

import numpy as np

from c2fbench.inference import Runtime
from deploy import DURATION_S, ITERATIONS, WARMUP_MS, WARMUP_RUNS

GPU_STEPS = ("h2d", "compute", "d2h")
PERCENTILES = (90, 95, 99)  # trtexec's default --percentile=90,95,99

# The instability rule. A run-to-run coefficient of variation above 0.15, or a median more
# than 1.5 times the fastest run, is not what a model costs but what the machine did to it.
# One fixed input on idle cores leaves only cache and clock-frequency noise (CVs of a few
# percent, medians within 10-20% of the minimum). A neighbour on a core the runtime's threads
# need stalls whole runs for scheduler slices of milliseconds, a long upper tail: the issue's
# busy run had a torch median 11x its minimum, and `deploy profile` of the demo network at
# 321x321 on this project's 2-core EPYC under a test suite's load (2026-12) gave CVs of
# 0.14-0.66 and median/min of 1.3-4.0. The thresholds sit nearer the noise than the
# interference: a false "unstable" costs a rerun, a missed one a wrong ratio. Median/min
# also catches a shift of most runs that leaves CV small. Not caught: a neighbour that slows
# every run alike (steady contention); ``preemptions_per_s`` records it, to be calibrated.
MAX_CV = 0.15
MAX_MEDIAN_OVER_MIN = 1.5
UNSTABLE_RULE = f"coefficient of variation > {MAX_CV} or median / min > {MAX_MEDIAN_OVER_MIN}"


def time_runtime(runtime: Runtime, shape: tuple[int, ...], *, warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS,
                 iterations: int = ITERATIONS, duration_s: float = DURATION_S, cuda_graph: bool = False,
                 seed: int | None = None, event=None) -> dict:
    """Time ``runtime.prepare(x)`` on one random (B, 3, H, W) input ``x``; see the module
    docstring. ``warmup`` is the least number of warm-up runs (besides ``warmup_ms``), and
    ``event`` makes the timing events (default ``torch.cuda.Event(enable_timing=True)``)."""
    return time_runtimes([runtime], shape, warmup_ms=warmup_ms, warmup=warmup, iterations=iterations,
                         duration_s=duration_s, cuda_graphs=[cuda_graph], seed=seed, event=event)[0]


def time_runtimes(runtimes: list[Runtime], shape: tuple[int, ...], *, warmup_ms: float = WARMUP_MS,
                  warmup: int = WARMUP_RUNS, iterations: int = ITERATIONS, duration_s: float = DURATION_S,
                  cuda_graphs: list[bool] | None = None, seed: int | None = None, event=None) -> list[dict]:
    """:func:`time_runtime` of each of ``runtimes`` on the same random input, interleaved
    (:func:`time_interleaved`); ``cuda_graphs[i]`` applies to runtime ``i``."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    graphs = cuda_graphs or [False] * len(runtimes)
    steps = [r.prepare(x, cuda_graph=g) for r, g in zip(runtimes, graphs)]
    return time_interleaved(steps, batch=shape[0], warmup_ms=warmup_ms, warmup=warmup, iterations=iterations,
                            duration_s=duration_s, event=event)


def time_steps(steps, *, batch: int, warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS,
               iterations: int = ITERATIONS, duration_s: float = DURATION_S, event=None, clock=time.perf_counter) -> dict:
    """:func:`time_interleaved` of one runtime's ``steps``."""
    return time_interleaved([steps], batch=batch, warmup_ms=warmup_ms, warmup=warmup, iterations=iterations,
                            duration_s=duration_s, event=event, clock=clock)[0]


# Runs of a target's turn in an interleaved cycle (several targets): untimed, then timed.
SWITCH_RUNS, TIMED_RUNS_PER_TURN = 1, 3


def time_interleaved(targets: list, *, batch: int, warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS,
                     iterations: int = ITERATIONS, duration_s: float = DURATION_S, event=None,
                     clock=time.perf_counter, switch_runs: int = SWITCH_RUNS,
                     timed_runs: int = TIMED_RUNS_PER_TURN) -> list[dict]:
    """Per :class:`c2fbench.inference.Steps` of ``targets``: :func:`latency_stats` of its host
    time per run, and the GPU figures by CUDA events when its ``stream`` is set.

    Each cycle gives every target a turn, in order: with several targets, one untimed run
    (``switch_runs``) then ``timed_runs`` timed ones, so that no timed run
    follows another backend's directly (its OpenMP threads still spinning, its data in the
    caches: measured, ONNX Runtime's 3.5 ms became 6.0 ms right after a PyTorch run, 3.9 ms
    one run later); a lone target runs once a cycle, timed. Warm-up cycles go on until each target had
    ``warmup`` runs and ``warmup_ms`` per target went by; timed cycles until each had
    ``iterations`` runs and ``duration_s`` per target went by (trtexec's per-backend least
    duration, kept for the whole loop: with n targets the loop lasts n times as long).
    ``wall_s`` of a target is the time its own runs took, and ``throughput_ips`` its images
    over that time; ``preemptions_per_s`` counts the process's involuntary context switches
    during its runs, per second of them: a neighbour that slowed every run alike leaves the
    spread small but this count high (recorded, not yet part of the rule: its idle level is
    to be measured). ``clock`` (seconds) is ``time.perf_counter`` but in tests.
    """
    timers = [_EventTimer(s.stream, event, clock) if s.stream is not None else None for s in targets]
    runs = [(lambda t=t, s=s: t.run(s)) if t else (lambda s=s: _run_sync(s)) for s, t in zip(targets, timers)]
    n = len(targets)
    warm, begin = 0, clock()
    while warm < warmup or (clock() - begin) * 1000.0 < warmup_ms * n:
        for run in runs:
            run()
        warm += 1
    for timer in timers:
        if timer:
            timer.clear()
    host: list[list[float]] = [[] for _ in targets]
    preempted = [0] * n
    begin = clock()
    switch, timed = (switch_runs, timed_runs) if n > 1 else (0, 1)
    while len(host[0]) < iterations or clock() - begin < duration_s * n:
        for i, (steps, run, times) in enumerate(zip(targets, runs, host)):
            for _ in range(switch):
                _run_sync(steps)  # untimed: the first run after another backend's
            for _ in range(timed):
                switches, start = _involuntary_switches(), clock()
                run()
                times.append((clock() - start) * 1000.0)
                preempted[i] += _involuntary_switches() - switches
    results = []
    for steps, timer, times, switches in zip(targets, timers, host, preempted):
        result = latency_stats(times, batch=batch)
        wall = sum(times) / 1000.0
        result.update(wall_s=wall, warmup_runs=warm, cuda_graph=bool(steps.cuda_graph), gpu_events=timer is not None,
                      preemptions_per_s=switches / wall if wall > 0 else 0.0, **stability(result))
        if timer:
            result.update(timer.summary())
        results.append(result)
    return results


def stability(stats: dict) -> dict:
    """``median_over_min`` and ``unstable`` (:data:`UNSTABLE_RULE`) of :func:`latency_stats`'s
    figures: whether the spread of the runs says that other work interfered."""
    spread = stats["median_ms"] / stats["min_ms"] if stats["min_ms"] > 0 else 1.0
    return {"median_over_min": spread, "unstable": bool(stats["cv"] > MAX_CV or spread > MAX_MEDIAN_OVER_MIN)}


def _involuntary_switches() -> int:
    """This process's involuntary context switches so far (all threads; 0 where unknown):
    the times the kernel took a core from one of its threads for another runnable task."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def _run_sync(steps) -> None:
    for step in (steps.h2d, steps.compute, steps.d2h):
        if step is not None:
            step()


class _EventTimer:
    """Runs CUDA ``Steps`` with four events between its three steps (one set reused: the
    stream is synchronised on the last event before the next run) and collects, per run, the
    milliseconds of H2D, compute and D2H (GPU clock) and of the enqueue call (host clock)."""

    def __init__(self, stream, event=None, clock=time.perf_counter) -> None:
        if event is None:
            import torch

            def event():
                return torch.cuda.Event(enable_timing=True)
        self.stream, self.events, self.clock = stream, [event() for _ in range(4)], clock
        self.clear()

    def clear(self) -> None:
        self.times: dict[str, list[float]] = {name: [] for name in (*GPU_STEPS, "enqueue")}

    def run(self, steps) -> None:
        e = self.events
        e[0].record(self.stream)
        steps.h2d()
        e[1].record(self.stream)
        start = self.clock()
        steps.compute()
        enqueue = (self.clock() - start) * 1000.0
        e[2].record(self.stream)
        steps.d2h()
        e[3].record(self.stream)
        e[3].synchronize()
        for name, a, b in zip(GPU_STEPS, e, e[1:]):
            self.times[name].append(a.elapsed_time(b))
        self.times["enqueue"].append(enqueue)

    def summary(self) -> dict:
        """``gpu``: statistics of each part and of latency (H2D + compute + D2H, per run),
        and the medians at the top level (``gpu_median_ms`` is the compute median)."""
        parts = {name: np.asarray(self.times[name]) for name in self.times}
        parts["latency"] = parts["h2d"] + parts["compute"] + parts["d2h"]
        gpu = {name: _spread(t) for name, t in parts.items()}
        medians = {f"{name}_median_ms": gpu[name]["median_ms"] for name in ("h2d", "d2h", "latency", "enqueue")}
        return {"gpu_median_ms": gpu["compute"]["median_ms"], **medians, "gpu": gpu}


def _spread(times: np.ndarray) -> dict:
    stats = latency_stats(np.maximum(times, 0.0), batch=1)  # the GPU clock can round a tiny copy to -0
    return {k: v for k, v in stats.items() if k.endswith("_ms")}


def latency_stats(times_ms, *, batch: int) -> dict:
    """Statistics of per-iteration host times (ms) for ``batch`` images per iteration.

    Percentiles (:data:`PERCENTILES`) interpolate linearly between order statistics (numpy's
    default); ``cv`` is the standard deviation over the mean (population standard deviation,
    trtexec's "coefficient of variance"); ``throughput_ips`` is ``batch * len(times) /
    sum(times)`` in images per second.
    """
    t = np.asarray(list(times_ms), dtype=np.float64)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("latency_stats needs at least one finite, non-negative time")
    mean = float(t.mean())
    return {"iterations": int(t.size), "mean_ms": mean, "median_ms": float(np.median(t)),
            **{f"p{q}_ms": float(np.percentile(t, q)) for q in PERCENTILES},
            "min_ms": float(t.min()), "max_ms": float(t.max()), "cv": float(t.std() / mean) if mean > 0 else 0.0,
            "throughput_ips": float(batch * t.size / (t.sum() / 1000.0)) if t.sum() > 0 else float("inf")}
