"""The one console wrapper: messages and progress on stderr, tables on stdout.

On a terminal, long work shows a rich progress bar with rate and ETA; when stderr is not
a terminal (CI logs, pipes) it prints a plain line about every 10% instead.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from rich.console import Console

out = Console(highlight=False, emoji=False)  # ":x:" in a path or message stays as it is
err = Console(stderr=True, highlight=False, emoji=False)


# Messages are never wrapped: one message, one line, whatever the terminal's width.
def info(message: str) -> None:
    err.print(message, markup=False, soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {_escape(message)}", soft_wrap=True)


def success(message: str) -> None:
    err.print(f"[green]✓[/] {_escape(message)}", soft_wrap=True)


def error(message: str) -> None:
    err.print(f"[red]error:[/] {_escape(message)}", soft_wrap=True)


def plural(n: int, word: str) -> str:
    """``plural(1, "round")`` -> "1 round", ``plural(3, "class")`` -> "3 classes"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


def _escape(message: str) -> str:
    from rich.markup import escape

    return escape(message)


@contextlib.contextmanager
def progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; shows a bar on a terminal and plain lines elsewhere."""
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
