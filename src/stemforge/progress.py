"""Progress reporting for long work: a Rich bar in the terminal, a callback in the library."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

#: Library functions call ``progress(step_name, fraction_done)`` with 0 <= fraction <= 1.
ProgressCallback = Callable[[str, float], None]


def no_progress(step: str, fraction: float) -> None:
    """A progress callback that does nothing."""


def part(
    progress: ProgressCallback, start: float, end: float, prefix: str = ""
) -> ProgressCallback:
    """A callback for one stage of longer work: its 0..1 maps onto ``start..end`` of
    ``progress`` and its step names get ``prefix``."""

    def update(step: str, fraction: float) -> None:
        name = f"{prefix}: {step}" if prefix else step
        progress(name, start + (end - start) * min(max(fraction, 0.0), 1.0))

    return update


@contextmanager
def progress_bar(console: Console, *, enabled: bool = True) -> Iterator[ProgressCallback]:
    """A Rich progress bar driven by a :data:`ProgressCallback` (transient: gone when done)."""
    if not enabled or not console.is_terminal:
        yield no_progress
        return
    columns = (TextColumn("{task.description:<24}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=step, completed=min(max(fraction, 0.0), 1.0))

        yield update
