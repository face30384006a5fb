"""Timing one runtime, trtexec's way: warm-up by time, then runs until both a least number
of iterations and a least duration are done, one inference at a time (see
:mod:`deploy.profile` for the method and what each figure means).

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


def time_runtime(runtime: Runtime, shape: tuple[int, ...], *, warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS,
                 iterations: int = ITERATIONS, duration_s: float = DURATION_S, cuda_graph: bool = False,
                 seed: int | None = None, event=None) -> dict:
    """Time ``runtime.prepare(x)`` on one random (B, 3, H, W) input ``x``; see the module
    docstring. ``warmup`` is the least number of warm-up runs (besides ``warmup_ms``), and
    ``event`` makes the timing events (default ``torch.cuda.Event(enable_timing=True)``)."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    steps = runtime.prepare(x, cuda_graph=cuda_graph)
    return time_steps(steps, batch=shape[0], warmup_ms=warmup_ms, warmup=warmup, iterations=iterations,
                      duration_s=duration_s, event=event)


def time_steps(steps, *, batch: int, warmup_ms: float = WARMUP_MS, warmup: int = WARMUP_RUNS,
               iterations: int = ITERATIONS, duration_s: float = DURATION_S, event=None) -> dict:
    """:func:`latency_stats` of the host time per run of ``steps`` (throughput over the
    loop's wall time) and, when ``steps.stream`` is set, the GPU figures by CUDA events."""
    timer = _EventTimer(steps.stream, event) if steps.stream is not None else None
    run = (lambda: timer.run(steps)) if timer else (lambda: _run_sync(steps))
    warm, begin = 0, time.perf_counter()
    while warm < warmup or (time.perf_counter() - begin) * 1000.0 < warmup_ms:
        run()
        warm += 1
    if timer:
        timer.clear()
    host: list[float] = []
    begin = time.perf_counter()
    while len(host) < iterations or time.perf_counter() - begin < duration_s:
        start = time.perf_counter()
        run()
        host.append((time.perf_counter() - start) * 1000.0)
    wall = time.perf_counter() - begin
    result = latency_stats(host, batch=batch)
    result.update(throughput_ips=batch * len(host) / wall if wall > 0 else float("inf"), wall_s=wall,
                  warmup_runs=warm, cuda_graph=bool(steps.cuda_graph), gpu_events=timer is not None)
    if timer:
        result.update(timer.summary())
    return result


def _run_sync(steps) -> None:
    for step in (steps.h2d, steps.compute, steps.d2h):
        if step is not None:
            step()


class _EventTimer:
    """Runs CUDA ``Steps`` with four events between its three steps (one set reused: the
    stream is synchronised on the last event before the next run) and collects, per run, the
    milliseconds of H2D, compute and D2H (GPU clock) and of the enqueue call (host clock)."""

    def __init__(self, stream, event=None) -> None:
        if event is None:
            import torch

            def event():
                return torch.cuda.Event(enable_timing=True)
        self.stream, self.events = stream, [event() for _ in range(4)]
        self.clear()

    def clear(self) -> None:
        self.times: dict[str, list[float]] = {name: [] for name in (*GPU_STEPS, "enqueue")}

    def run(self, steps) -> None:
        e = self.events
        e[0].record(self.stream)
        steps.h2d()
        e[1].record(self.stream)
        start = time.perf_counter()
        steps.compute()
        enqueue = (time.perf_counter() - start) * 1000.0
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

    Percentiles interpolate linearly between order statistics (numpy's default), and
    ``throughput_ips`` is ``batch * len(times) / sum(times)`` in images per second.
    """
    t = np.asarray(list(times_ms), dtype=np.float64)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("latency_stats needs at least one finite, non-negative time")
    return {"iterations": int(t.size), "mean_ms": float(t.mean()), "median_ms": float(np.median(t)),
            "p90_ms": float(np.percentile(t, 90)), "p99_ms": float(np.percentile(t, 99)),
            "min_ms": float(t.min()), "max_ms": float(t.max()),
            "throughput_ips": float(batch * t.size / (t.sum() / 1000.0)) if t.sum() > 0 else float("inf")}
