"""Terminal pieces for the run loop: a running score for the progress bar and the final table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from memento.eval.group_scores import ALL_SOURCES, GroupSummary
from memento.eval.results import ResultRow

if TYPE_CHECKING:
    from rich.table import Table


class RunningScore:
    """Running means over finished rows, for a progress bar's description."""

    def __init__(self) -> None:
        self.n = 0
        self._em = self._f1 = self._pm = self._acc = 0.0

    def add(self, row: ResultRow) -> None:
        """Count one finished row."""
        self.n += 1
        self._em += row.em
        self._f1 += row.f1
        self._pm += row.pm
        self._acc += 1.0 if row.correct else 0.0

    def means(self) -> dict[str, float]:
        """Means of em, f1, pm and accuracy so far (0 before any row)."""
        n = max(1, self.n)
        return {"em": self._em / n, "f1": self._f1 / n, "pm": self._pm / n, "acc": self._acc / n}

    def describe(self) -> str:
        """A short text such as 'acc 41.2 | F1 55.0 | PM 63.1 (n=120)'."""
        m = self.means()
        return (
            f"acc {100 * m['acc']:.1f} | F1 {100 * m['f1']:.1f} | "
            f"PM {100 * m['pm']:.1f} (n={self.n})"
        )


def _pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f}"


def summary_table(
    groups: Sequence[GroupSummary], *, title: str = "Summary", per_source: bool = True
) -> Table:
    """A rich table of `summarize` output: per memory mode, epoch and (optionally) source.

    Args:
        groups: Output of `memento.eval.group_scores.summarize`.
        title: Table title (name the metric family in it).
        per_source: Also show one line per data source under each epoch's overall line.

    Returns:
        The table, ready for `rich.console.Console.print`.
    """
    from rich.table import Table

    table = Table(title=title)
    for name in ("Memory", "Epoch", "Source", "n", "EM", "F1", "PM", "Judge", "Tokens", "Cost"):
        table.add_column(name, justify="left" if name in ("Memory", "Source") else "right")
    table.add_column("Time (s)", justify="right")
    for g in groups:
        if g.source != ALL_SOURCES and not per_source:
            continue
        tokens = (
            "–"
            if g.input_tokens is None and g.output_tokens is None
            else f"{(g.input_tokens or 0) + (g.output_tokens or 0):,}"
        )
        table.add_row(
            g.memory,
            str(g.epoch),
            g.source,
            str(g.n),
            _pct(g.em.mean),
            _pct(g.f1.mean),
            _pct(g.pm.mean),
            _pct(g.judge) if g.judged else "–",
            tokens,
            f"{g.cost:.4f}" if g.cost is not None else "–",
            f"{g.seconds:.1f}",
            style="bold" if g.source == ALL_SOURCES else None,
        )
    return table
