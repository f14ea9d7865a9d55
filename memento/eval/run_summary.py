"""The summary `run_eval` returns: per-epoch means over a run's tasks, plus what the call did."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from memento.eval.datasets import Task
from memento.eval.group_scores import GroupSummary, latest_rows, summarize
from memento.eval.results import ResultRow, read_results


class EpochSummary(BaseModel):
    """Means over one epoch's tasks."""

    epoch: int = Field(description="Epoch (1-based).")
    n: int = Field(description="Tasks with a scored row (an error row is counted apart).")
    em: float = Field(description="Mean exact match.")
    f1: float = Field(description="Mean token F1.")
    pm: float = Field(description="Mean partial match.")
    reward: float = Field(description="Mean reward written to memory.")
    accuracy: float = Field(description="Judge verdict where judged, else EM; mean.")
    errors: int = Field(description="Tasks without an outcome (a model call failed): retried.")
    input_tokens: int | None = Field(description="Prompt tokens; None when none reported.")
    output_tokens: int | None = Field(description="Completion tokens; None when none reported.")
    cost: float | None = Field(description="USD; None when not priced.")
    seconds: float = Field(description="Sum of the tasks' wall times.")


class EvalSummary(BaseModel):
    """The outcome of `run_eval`: per-epoch scores over the run's tasks, plus what this call did."""

    memory: str = Field(description="Memory mode.")
    metric: str = Field(description="Metric family of em, f1 and pm.")
    tasks: int = Field(description="Tasks per epoch.")
    epochs: list[EpochSummary] = Field(description="One entry per epoch.")
    n: int = Field(description="Rows over all epochs.")
    ran: int = Field(description="Tasks run by this call.")
    skipped: int = Field(description="(task, epoch) pairs already finished before this call.")
    seconds: float = Field(description="Wall time of this call.")
    input_tokens: int | None = Field(description="Prompt tokens over all rows.")
    output_tokens: int | None = Field(description="Completion tokens over all rows.")
    cost: float | None = Field(description="USD over all rows, when priced.")
    groups: list[GroupSummary] = Field(description="Per epoch and data source, with 95% CIs.")
    results: Path = Field(description="The results file.")


def _epoch_summaries(rows: Sequence[ResultRow], epochs: int) -> list[EpochSummary]:
    out: list[EpochSummary] = []
    for epoch in range(1, epochs + 1):
        everything = [r for r in rows if r.epoch == epoch]
        mine = [r for r in everything if r.error is None]  # errors are counted apart
        n = len(mine)

        def mean(values: list[float], count: int = n) -> float:
            return sum(values) / count if count else float("nan")

        ins = [r.input_tokens for r in everything if r.input_tokens is not None]
        outs = [r.output_tokens for r in everything if r.output_tokens is not None]
        costs = [r.cost for r in everything if r.cost is not None]
        out.append(
            EpochSummary(
                epoch=epoch,
                n=n,
                em=mean([r.em for r in mine]),
                f1=mean([r.f1 for r in mine]),
                pm=mean([r.pm for r in mine]),
                reward=mean([r.reward for r in mine]),
                accuracy=mean([1.0 if r.correct else 0.0 for r in mine]),
                errors=len(everything) - n,
                input_tokens=sum(ins) if ins else None,
                output_tokens=sum(outs) if outs else None,
                cost=sum(costs) if costs else None,
                seconds=sum(r.seconds for r in everything),
            )
        )
    return out


def summarize_run(
    results: Path,
    tasks: Sequence[Task],
    *,
    memory: str,
    epochs: int,
    metric: str,
    seed: int = 0,
    ran: int = 0,
    skipped: int = 0,
    seconds: float = 0.0,
) -> EvalSummary:
    """Summarise the rows of one memory mode over `tasks` and epochs 1..`epochs`.

    Args:
        results: The results file.
        tasks: The run's tasks (rows of other tasks in the file are left out).
        memory: Memory mode.
        epochs: Epochs of the run.
        metric: Metric family of the rows.
        seed: Bootstrap seed.
        ran: Tasks run by the call being summarised.
        skipped: Pairs it found already finished.
        seconds: Its wall time.
    """
    ids = {t.task_id for t in tasks}
    rows = [
        r
        for r in latest_rows(read_results(results))
        if r.memory == memory and r.task_id in ids and 1 <= r.epoch <= epochs
    ]
    per_epoch = _epoch_summaries(rows, epochs)

    def total(values: list[int | None]) -> int | None:
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    costs = [e.cost for e in per_epoch if e.cost is not None]
    return EvalSummary(
        memory=memory,
        metric=metric,
        tasks=len(tasks),
        epochs=per_epoch,
        n=len(rows),
        ran=ran,
        skipped=skipped,
        seconds=seconds,
        input_tokens=total([e.input_tokens for e in per_epoch]),
        output_tokens=total([e.output_tokens for e in per_epoch]),
        cost=sum(costs) if costs else None,
        groups=summarize(rows, seed=seed, n_resamples=1000),
        results=results,
    )
