"""Progress reporting for long work: a rich progress bar on a terminal, silence when piped.

Library code reports through the plain `ProgressFn` callback (phase, done, total) and never
imports rich; command-line code passes `progress_bar()` as that callback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

ProgressFn = Callable[[str, int, int], None]
"""Called as fn(phase, done, total) while long work advances; `done` counts up to `total`."""


def _silent(phase: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


@contextmanager
def progress_bar(
    *, stream: TextIO | None = None, enabled: bool | None = None
) -> Iterator[ProgressFn]:
    """Yield a `ProgressFn` that draws one bar per phase on a terminal.

    Args:
        stream: where to draw (default: standard error, so piped standard output stays clean).
        enabled: force the bar on or off; by default it is on only when `stream` is a TTY.

    Yields:
        A callback to hand to long-running functions; silent when disabled.
    """
    out = stream if stream is not None else sys.stderr
    show = enabled if enabled is not None else bool(getattr(out, "isatty", lambda: False)())
    if not show:
        yield _silent
        return

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=False,
    ) as bar:

        def update(phase: str, done: int, total: int) -> None:
            task = tasks.get(phase)
            if task is None:
                task = tasks[phase] = bar.add_task(phase, total=total)
            bar.update(task, completed=done, total=total)

        yield update
