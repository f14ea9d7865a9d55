"""Learning-curve and per-source plots, written as PNG and SVG with matplotlib's Agg canvas.

Figures are built with `matplotlib.figure.Figure` (no pyplot, no global backend state), so the
plots work headless and from several threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from memento.eval.group_scores import ALL_SOURCES, GroupSummary

Series = tuple[str, Sequence[GroupSummary]]
"""A label (run and memory mode) and its summaries."""


def _save(fig: object, stem: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # type: ignore[arg-type]
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=120, bbox_inches="tight")  # type: ignore[attr-defined]
    return paths


def learning_curve(series: Sequence[Series], stem: Path, metric: str) -> list[Path]:
    """Accuracy and F1 per epoch, one line per (run, memory mode).

    Args:
        series: Labelled summaries; only the all-sources groups are drawn.
        stem: Output path without suffix; `.png` and `.svg` are written.
        metric: Metric family named in the F1 axis label.

    Returns:
        The files written.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4))
    acc_ax, f1_ax = fig.subplots(1, 2)
    for label, groups in series:
        overall = sorted((g for g in groups if g.source == ALL_SOURCES), key=lambda g: g.epoch)
        epochs = [g.epoch for g in overall]
        for ax, values, lows, highs in (
            (
                acc_ax,
                [g.accuracy.mean for g in overall],
                [g.accuracy.low for g in overall],
                [g.accuracy.high for g in overall],
            ),
            (
                f1_ax,
                [g.f1.mean for g in overall],
                [g.f1.low for g in overall],
                [g.f1.high for g in overall],
            ),
        ):
            (line,) = ax.plot(epochs, [100 * v for v in values], marker="o", label=label)
            ax.fill_between(
                epochs,
                [100 * v for v in lows],
                [100 * v for v in highs],
                alpha=0.15,
                color=line.get_color(),
            )
    acc_ax.set_title("Accuracy per epoch (judge, else EM)")
    acc_ax.set_ylabel("accuracy (%)")
    f1_ax.set_title(f"F1 per epoch ({metric})")
    f1_ax.set_ylabel("F1 (%)")
    for ax in (acc_ax, f1_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
    handles, labels = acc_ax.get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, fontsize="small", loc="lower center", ncol=min(4, len(labels)))
    fig.subplots_adjust(bottom=0.22)
    return _save(fig, stem)


def per_source_bars(series: Sequence[Series], stem: Path, metric: str) -> list[Path]:
    """F1 per data source at each series' last epoch, grouped bars.

    Args:
        series: Labelled summaries.
        stem: Output path without suffix; `.png` and `.svg` are written.
        metric: Metric family named in the axis label.

    Returns:
        The files written.
    """
    from matplotlib.figure import Figure

    finals: list[tuple[str, dict[str, float]]] = []
    sources: set[str] = set()
    for label, groups in series:
        if not groups:
            continue
        last = max(g.epoch for g in groups)
        values = {g.source: g.f1.mean for g in groups if g.epoch == last}
        sources.update(values)
        finals.append((f"{label} (epoch {last})", values))
    order = [ALL_SOURCES, *sorted(s for s in sources if s != ALL_SOURCES)]
    fig = Figure(figsize=(max(6.0, 1.2 * len(order) * max(1, len(finals)) / 2 + 3), 4))
    ax = fig.subplots()
    width = 0.8 / max(1, len(finals))
    for i, (label, values) in enumerate(finals):
        xs = [j + (i - (len(finals) - 1) / 2) * width for j in range(len(order))]
        ax.bar(xs, [100 * values.get(s, 0.0) for s in order], width=width, label=label)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=30, ha="right")
    ax.set_ylabel(f"F1 (%) [{metric}]")
    ax.set_title("F1 per data source (last epoch)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    if finals:
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2)
    return _save(fig, stem)
