"""`memento report`: compare run folders side by side in Markdown, with learning-curve plots.

Each run folder holds results.jsonl (and optionally run.json). The report writes report.md,
learning_curve.{png,svg} and per_source.{png,svg} into the output folder. Every number in the
Markdown is computed from the rows by `memento.eval.group_scores`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from memento.eval.group_scores import (
    ALL_SOURCES,
    GroupSummary,
    memory_key,
    pass_at_k_by_memory,
    summarize,
)
from memento.eval.memory_report import memory_section
from memento.eval.plots import learning_curve, per_source_bars
from memento.eval.results import ResultRow, RunManifest, read_manifest, read_results
from memento.eval.stats import Interval
from memento.scoring.metrics import DEFAULT_FAMILY, MetricFamily

OFFLINE_MODELS = frozenset({"offline", "fake", "deterministic"})
N_RESAMPLES = 2000


class RunData(BaseModel):
    """One run folder, read."""

    label: str = Field(description="Short name shown in tables and legends.")
    folder: Path = Field(description="The run folder.")
    rows: list[ResultRow] = Field(description="Its result rows.")
    manifest: RunManifest | None = Field(default=None, description="Its run.json, if any.")


class ReportFiles(BaseModel):
    """Files written by `build_report`."""

    markdown: Path = Field(description="The Markdown summary.")
    plots: list[Path] = Field(description="PNG and SVG plots.")


def load_runs(folders: Sequence[str | Path]) -> list[RunData]:
    """Read each folder's rows and manifest; labels are folder names, made unique if needed."""
    paths = [Path(f) for f in folders]
    names = [p.name or str(p) for p in paths]
    runs: list[RunData] = []
    for path, name in zip(paths, names, strict=True):
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a run folder")
        label = str(path) if names.count(name) > 1 else name
        runs.append(
            RunData(label=label, folder=path, rows=read_results(path), manifest=read_manifest(path))
        )
    return runs


def _pct(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{100 * value:.1f}"


def _ci(interval: Interval) -> str:
    if interval.n == 0:
        return "–"
    return f"{_pct(interval.mean)} [{_pct(interval.low)}, {_pct(interval.high)}]"


def _tokens(group: GroupSummary) -> str:
    if group.input_tokens is None and group.output_tokens is None:
        return "–"
    return f"{group.input_tokens or 0:,} / {group.output_tokens or 0:,}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _runs_section(runs: Sequence[RunData]) -> list[str]:
    rows = []
    for run in runs:
        m = run.manifest
        modes = ", ".join(sorted({r.memory for r in run.rows}, key=memory_key)) or "–"
        epochs = sorted({r.epoch for r in run.rows})
        rows.append(
            [
                run.label,
                f"`{run.folder}`",
                modes,
                f"{epochs[0]}–{epochs[-1]}" if epochs else "–",
                str(len(run.rows)),
                str(len({r.task_id for r in run.rows})),
                (m.model or "–") if m else "–",
                str(m.skipped_rows) if m else "–",
            ]
        )
    header = ["Run", "Folder", "Memory", "Epochs", "Rows", "Tasks", "Model", "Skipped rows"]
    return ["## Runs", "", *_table(header, rows), ""]


def _overall_section(summaries: Sequence[tuple[str, list[GroupSummary]]]) -> list[str]:
    header = [
        "Run", "Memory", "Epoch", "n", "EM", "F1 [95% CI]", "PM", "Accuracy [95% CI]",
        "Judge", "Errors", "Tokens in / out", "Cost (USD)", "Seconds",
    ]  # fmt: skip
    rows = [
        [
            label,
            g.memory,
            str(g.epoch),
            str(g.n),
            _pct(g.em.mean),
            _ci(g.f1),
            _pct(g.pm.mean),
            _ci(g.accuracy),
            f"{_pct(g.judge)} ({g.judged})" if g.judged else "–",
            str(g.errors),
            _tokens(g),
            f"{g.cost:.4f}" if g.cost is not None else "–",
            f"{g.seconds:.1f}",
        ]  # fmt: skip
        for label, groups in summaries
        for g in groups
        if g.source == ALL_SOURCES
    ]
    return ["## Overall, per epoch", "", *_table(header, rows), ""]


def _accounting_notes(summaries: Sequence[tuple[str, list[GroupSummary]]]) -> list[str]:
    """Say what the token and cost columns leave out, and why."""
    overall = [(label, g) for label, groups in summaries for g in groups if g.source == ALL_SOURCES]
    unmetered = sum(g.unmetered_calls for _, g in overall)
    unpriced = sorted({m for _, g in overall for m in g.unpriced_models})
    errors = sum(g.errors for _, g in overall)
    lines = []
    if errors:
        lines.append(
            f"- {errors} row(s) with an error (a model call or judge failed): not scored and "
            "not counted as wrong answers; re-run the evaluation to retry them."
        )
    if unmetered:
        lines.append(
            f"- {unmetered} model call(s) without usage reported: their tokens are missing "
            "from the totals."
        )
    if unpriced:
        lines.append(f"- no price for: {', '.join(unpriced)} (cost left blank).")
    return [*lines, ""] if lines else []


def _source_section(summaries: Sequence[tuple[str, list[GroupSummary]]]) -> list[str]:
    header = ["Run", "Memory", "Epoch", "Source", "n", "EM", "F1 [95% CI]", "PM", "Accuracy"]
    rows = [
        [
            label,
            g.memory,
            str(g.epoch),
            g.source,
            str(g.n),
            _pct(g.em.mean),
            _ci(g.f1),
            _pct(g.pm.mean),
            _pct(g.accuracy.mean),
        ]  # fmt: skip
        for label, groups in summaries
        for g in groups
        if g.source != ALL_SOURCES
    ]
    return ["## Per data source", "", *_table(header, rows), ""]


def _pass_section(runs: Sequence[RunData]) -> list[str]:
    tables = [(run.label, pass_at_k_by_memory(run.rows)) for run in runs]
    most = max((max(ks) for _, t in tables for ks in t.values() if ks), default=0)
    if most == 0:
        return []
    header = ["Run", "Memory", *[f"Pass@{k}" for k in range(1, most + 1)]]
    rows = [
        [label, memory, *[_pct(by_k.get(k)) for k in range(1, most + 1)]]
        for label, table in tables
        for memory, by_k in table.items()
    ]
    note = "Share of tasks correct (judge, else EM) in at least one of their first k epochs."
    return ["## Pass@k over epochs", "", note, "", *_table(header, rows), ""]


def build_report(
    folders: Sequence[str | Path],
    out: str | Path,
    *,
    metric: MetricFamily = DEFAULT_FAMILY,
    seed: int = 0,
) -> ReportFiles:
    """Write the Markdown summary and the plots comparing `folders`.

    Args:
        folders: Run folders, each with a results.jsonl.
        out: Output folder (created).
        metric: Metric family of the report; rows scored with another family are rescored.
        seed: Bootstrap seed.

    Returns:
        The files written.
    """
    runs = load_runs(folders)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    summaries = [
        (run.label, summarize(run.rows, metric=metric, seed=seed, n_resamples=N_RESAMPLES))
        for run in runs
    ]
    series = [
        (f"{label} / {memory}", [g for g in groups if g.memory == memory])
        for label, groups in summaries
        for memory in sorted({g.memory for g in groups}, key=memory_key)
    ]
    plots = [
        *learning_curve(series, target / "learning_curve", metric),
        *per_source_bars(series, target / "per_source", metric),
    ]
    lines = [
        "# Memento evaluation report",
        "",
        f"Metric family: `{metric}` (EM, F1 and PM in %). Accuracy is the LLM judge's verdict "
        f"where a row was judged, else EM. Intervals are 95% bootstrap CIs ({N_RESAMPLES} "
        f"resamples, seed {seed}).",
        "",
    ]
    if any(r.manifest and r.manifest.model.lower() in OFFLINE_MODELS for r in runs):
        lines += [
            "> Runs with the offline deterministic stand-in model show that the harness works; "
            "their accuracy means nothing about any real model.",
            "",
        ]
    lines += _runs_section(runs) + _overall_section(summaries) + _accounting_notes(summaries)
    lines += _source_section(summaries)
    lines += _pass_section(runs)
    lines += memory_section(runs)
    lines += ["## Plots", ""]
    lines += [f"![{p.stem}]({p.name})" for p in plots if p.suffix == ".png"]
    markdown = target / "report.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ReportFiles(markdown=markdown, plots=plots)
