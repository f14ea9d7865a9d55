"""`memento score FILE.jsonl`: score any file of predictions against ground truths."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _field(row: dict[str, Any], name: str, file: Path, line: int) -> Any:
    if name not in row:
        raise ValueError(f"{file}:{line}: missing field {name!r}")
    return row[name]


def _read_pairs(
    file: Path, prediction_field: str, truth_field: str, skip_bad: bool
) -> tuple[list[tuple[str, list[str]]], int]:
    from memento.scoring.metrics import split_answers

    pairs: list[tuple[str, list[str]]] = []
    skipped = 0
    with file.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{file}:{line}: invalid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise ValueError(f"{file}:{line}: row is not a JSON object")
                pred = _field(row, prediction_field, file, line)
                truth = _field(row, truth_field, file, line)
                if pred is not None and not isinstance(pred, str | int | float):
                    raise ValueError(f"{file}:{line}: {prediction_field!r} must be a string")
                ok = isinstance(truth, str) or (
                    isinstance(truth, list) and all(isinstance(t, str) for t in truth)
                )
                if not ok:
                    raise ValueError(f"{file}:{line}: {truth_field!r} must be a string or a list")
            except ValueError:
                if not skip_bad:
                    raise
                skipped += 1
                continue
            pairs.append(("" if pred is None else str(pred), split_answers(truth)))
    return pairs, skipped


def score(
    file: Annotated[Path, typer.Argument(help="JSONL file, one prediction per line.")],
    prediction_field: Annotated[
        str, typer.Option("--prediction-field", help="Field holding the prediction.")
    ] = "prediction",
    truth_field: Annotated[
        str,
        typer.Option(
            "--truth-field",
            help="Field holding the accepted answers (a list, or joined by <|answer_split|>).",
        ),
    ] = "ground_truth",
    metric: Annotated[
        str, typer.Option("--metric", help="Normalisation family: squad or deepresearcher.")
    ] = "deepresearcher",
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip malformed rows (counted) instead of failing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score predictions with EM, F1 and PM (means over rows, in [0, 1])."""
    from memento.scoring.metrics import METRIC_FAMILIES
    from memento.scoring.metrics import score as score_one

    if metric not in METRIC_FAMILIES:
        typer.echo(f"error: --metric must be one of {', '.join(METRIC_FAMILIES)}", err=True)
        raise typer.Exit(2)
    try:
        pairs, skipped = _read_pairs(file, prediction_field, truth_field, skip_bad)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    scores = [score_one(p, t, metric) for p, t in pairs]  # type: ignore[arg-type]
    n = len(scores)
    em = sum(s.em for s in scores) / n if n else 0.0
    f1 = sum(s.f1 for s in scores) / n if n else 0.0
    pm = sum(s.pm for s in scores) / n if n else 0.0
    result = {"n": n, "metric": metric, "em": em, "f1": f1, "pm": pm}
    if skipped:
        typer.echo(f"skipped {skipped} malformed row(s)", err=True)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    typer.echo(
        f"{file}: n={n} metric={metric} EM={100 * em:.1f} F1={100 * f1:.1f} PM={100 * pm:.1f}"
    )
