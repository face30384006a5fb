"""The one console wrapper: messages and progress on stderr, tables on stdout.

On a terminal, long work shows a rich progress bar with rate and ETA; when stderr is not
a terminal (CI logs, pipes) it prints a plain line about every 10% instead.

rich is imported on first use (``out``, ``err`` and the printing helpers), not with this
module: the model, checkpoint and ONNX code import :func:`plural` from here, and the GPU
check runs that code where only torch, torchvision, numpy, pillow and onnxruntime are
installed (benchmarks/gpu_check.py ``--prepared``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, Sequence

_consoles: dict = {}


def __getattr__(name: str):
    """``out`` (stdout) and ``err`` (stderr) as module attributes, made on first use (PEP 562)."""
    if name in ("out", "err"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _console(name: str):
    """The rich Console for ``name`` ("out" or "err"), made once."""
    if name not in _consoles:
        from rich.console import Console

        # emoji=False: ":x:" in a path or message stays as it is
        _consoles[name] = Console(stderr=name == "err", highlight=False, emoji=False)
    return _consoles[name]


# Messages are never wrapped: one message, one line, whatever the terminal's width.
def info(message: str) -> None:
    _console("err").print(message, markup=False, soft_wrap=True)


def warn(message: str) -> None:
    _console("err").print(f"[yellow]warning:[/] {_escape(message)}", soft_wrap=True)


def success(message: str) -> None:
    _console("err").print(f"[green]✓[/] {_escape(message)}", soft_wrap=True)


def error(message: str) -> None:
    _console("err").print(f"[red]error:[/] {_escape(message)}", soft_wrap=True)


def plural(n: int, word: str) -> str:
    """``plural(1, "round")`` -> "1 round", ``plural(3, "class")`` -> "3 classes"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


def _escape(message: str) -> str:
    from rich.markup import escape

    return escape(message)


@contextlib.contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; shows a bar on a terminal and plain lines elsewhere."""
    err = _console("err")
    if err.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task):
                return Text(f"{task.speed:.1f}/s" if task.speed else "-/s", style="progress.data.speed")

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=err) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)
        return
    state = {"done": 0, "next": max(1, total // 10), "start": time.perf_counter()}

    def advance(n: int = 1) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] == total:
            rate = state["done"] / max(time.perf_counter() - state["start"], 1e-9)
            print(f"{description}: {state['done']}/{total} ({rate:.1f}/s)", file=sys.stderr, flush=True)
            state["next"] = state["done"] + max(1, total // 10)

    yield advance


@contextlib.contextmanager
def progress_callback(description: str) -> Iterator[Callable[[int, int], None]]:
    """Yield ``report(done, total)`` for library functions that report that way; the bar
    starts at the first report, when the total is known."""
    with contextlib.ExitStack() as stack:
        state = {"advance": None, "done": 0}

        def report(done: int, total: int) -> None:
            if state["advance"] is None:
                state["advance"] = stack.enter_context(progress(total, description))
            state["advance"](done - state["done"])
            state["done"] = done

        yield report


class Stages:
    """The numbered stages of a long command, each announced on stderr as ``[k/N] label (m:ss
    elapsed, about X min left)``. ``stages``: ``(key, label, weight)`` in running order, a
    weight being the stage's share of the work (its seconds in one timed run, say). The
    estimate is the weight still to do at the pace of the weight done so far, so it follows
    this machine and this load, roughly; none is given before ``MEASURED_S`` seconds of work
    have been timed (stages skipped on a rerun take none)."""

    MEASURED_S = 10.0

    def __init__(self, stages: Sequence[tuple[str, str, float]], *, clock: Callable[[], float] = time.perf_counter):
        self.keys = [key for key, _, _ in stages]
        self.labels = {key: label for key, label, _ in stages}
        self.weights = {key: float(weight) for key, _, weight in stages}
        self.clock, self.started = clock, clock()
        self.current: str | None = None
        self.share = 0.0  # of the current stage's work, done

    def start(self, key: str) -> None:
        """Stage ``key`` begins: its line."""
        self.current, self.share = key, 0.0
        info(self.line(self.labels[key]))

    def within(self, share: float, note: str) -> None:
        """``note`` on the current stage, ``share`` (0 to 1) of its work done: its line again."""
        self.share = min(max(share, 0.0), 1.0)
        info(self.line(f"{self.labels[self.current]}: {note}"))

    def line(self, text: str) -> str:
        k = self.keys.index(self.current) + 1
        left = self.left()
        estimate = "" if left is None else ", " + about_left(left)
        return f"[{k}/{len(self.keys)}] {text} ({clock_text(self.elapsed())} elapsed{estimate})"

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float | None:
        """Seconds still to go by the estimate; None before ``MEASURED_S`` seconds were timed."""
        i = self.keys.index(self.current)
        done = sum(self.weights[k] for k in self.keys[:i]) + self.share * self.weights[self.current]
        elapsed = self.elapsed()
        if elapsed < self.MEASURED_S or done <= 0:
            return None
        return elapsed / done * (sum(self.weights.values()) - done)


def about_left(seconds: float) -> str:
    """``about_left(200)`` -> "about 3 min left": whole minutes, never more precise."""
    minutes = round(seconds / 60)
    return "under a minute left" if minutes < 1 else f"about {minutes} min left"


def clock_text(seconds: float) -> str:
    """``clock_text(331.6)`` -> "5:31"."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def duration_text(seconds: float) -> str:
    """``duration_text(727.2)`` -> "12 min 7 s", ``duration_text(42)`` -> "42 s"."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"
