"""`memento report DIR [DIR...]`: compare evaluation runs, write Markdown and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    folders: Annotated[list[Path], typer.Argument(help="Run folders holding results.jsonl.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: FIRST_DIR/report)."),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Normalisation family: squad or deepresearcher.")
    ] = "deepresearcher",
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Summarise runs side by side: per epoch, memory mode and source, with 95% CIs and plots."""
    from memento.eval.report import build_report
    from memento.eval.results import ResultsError
    from memento.scoring.metrics import METRIC_FAMILIES

    if metric not in METRIC_FAMILIES:
        typer.echo(f"error: --metric must be one of {', '.join(METRIC_FAMILIES)}", err=True)
        raise typer.Exit(2)
    target = out if out is not None else folders[0] / "report"
    try:
        files = build_report(folders, target, metric=metric, seed=seed)  # type: ignore[arg-type]
    except (FileNotFoundError, ResultsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {files.markdown}")
    for path in files.plots:
        typer.echo(f"wrote {path}")
