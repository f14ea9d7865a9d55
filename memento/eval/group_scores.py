"""Scores per group of result rows (memory mode, epoch, source), with bootstrap CIs and pass@k.

The run loop's final table and `memento report` both build on `summarize`, so they always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from memento.eval.results import ResultRow
from memento.eval.stats import Interval, bootstrap_ci, first_k_pass
from memento.scoring.metrics import METRIC_FAMILIES, MetricFamily, score

ALL_SOURCES = "all"
"""`source` of the summary over every data source."""

MEMORY_ORDER = ("none", "similarity", "q")
"""Display order of the known memory modes; others follow alphabetically."""


def memory_key(memory: str) -> tuple[int, str]:
    """Sort key putting the known memory modes first, in `MEMORY_ORDER`."""
    rank = MEMORY_ORDER.index(memory) if memory in MEMORY_ORDER else len(MEMORY_ORDER)
    return (rank, memory)


class GroupSummary(BaseModel):
    """Scores of the rows of one (memory mode, epoch, data source)."""

    memory: str = Field(description="Memory mode.")
    epoch: int = Field(description="Epoch.")
    source: str = Field(description=f"Data source, or {ALL_SOURCES!r}.")
    metric: str = Field(description="Normalisation family of em, f1 and pm.")
    n: int = Field(description="Scored rows (rows with an error are counted apart).")
    em: Interval = Field(description="Exact match with its 95% CI.")
    f1: Interval = Field(description="Token F1 with its 95% CI.")
    pm: Interval = Field(description="Partial match with its 95% CI.")
    accuracy: Interval = Field(description="Judge verdict where judged, else EM, with its CI.")
    judge: float | None = Field(description="Judge accuracy over judged rows; None if none.")
    judged: int = Field(description="Rows with a judge verdict.")
    errors: int = Field(
        description="Rows with no outcome (a model call or judge failed): not scored, never "
        "counted as wrong answers."
    )
    unmetered_calls: int = Field(default=0, description="Model calls that reported no usage.")
    unpriced_models: list[str] = Field(
        default_factory=list, description="Models used without a price (cost left out)."
    )
    input_tokens: int | None = Field(description="Sum of input tokens; None if none reported.")
    output_tokens: int | None = Field(description="Sum of output tokens; None if none reported.")
    cost: float | None = Field(description="Sum of costs in USD; None if none priced.")
    seconds: float = Field(description="Sum of task wall times.")


def latest_rows(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """Keep the last row of each (memory, task_id, epoch), in first-seen order."""
    kept: dict[tuple[str, str, int], ResultRow] = {}
    for row in rows:
        kept[(row.memory, row.task_id, row.epoch)] = row
    return list(kept.values())


def rescore(rows: Iterable[ResultRow], metric: MetricFamily) -> list[ResultRow]:
    """Rows whose em/f1/pm use `metric`, recomputed from prediction and ground truth if needed."""
    if metric not in METRIC_FAMILIES:
        raise ValueError(f"unknown metric family {metric!r}; expected one of {METRIC_FAMILIES}")
    out: list[ResultRow] = []
    for row in rows:
        if row.metric == metric:
            out.append(row)
            continue
        s = score(row.prediction, row.ground_truth, metric)
        out.append(row.model_copy(update={"metric": metric, "em": s.em, "f1": s.f1, "pm": s.pm}))
    return out


def _sum_or_none(values: Sequence[float | int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def _group(
    rows: Sequence[ResultRow], memory: str, epoch: int, source: str, seed: int, n_resamples: int
) -> GroupSummary:
    def ci(values: Sequence[float]) -> Interval:
        return bootstrap_ci(values, seed=seed, n_resamples=n_resamples)

    failed = [r for r in rows if r.error is not None]
    rows = [r for r in rows if r.error is None]  # an outage is not a wrong answer
    judged = [r.judge_correct for r in rows if r.judge_correct is not None]
    spent = [*rows, *failed]  # tokens, cost and time of a failed attempt were spent all the same
    tokens_in = _sum_or_none([r.input_tokens for r in spent])
    tokens_out = _sum_or_none([r.output_tokens for r in spent])
    metrics = {r.metric for r in rows}
    return GroupSummary(
        memory=memory,
        epoch=epoch,
        source=source,
        metric=metrics.pop() if len(metrics) == 1 else "mixed",
        n=len(rows),
        em=ci([r.em for r in rows]),
        f1=ci([r.f1 for r in rows]),
        pm=ci([r.pm for r in rows]),
        accuracy=ci([1.0 if r.correct else 0.0 for r in rows]),
        judge=sum(judged) / len(judged) if judged else None,
        judged=len(judged),
        errors=len(failed),
        unmetered_calls=sum(r.unmetered_calls for r in spent),
        unpriced_models=sorted({m for r in spent for m in r.unpriced_models}),
        input_tokens=int(tokens_in) if tokens_in is not None else None,
        output_tokens=int(tokens_out) if tokens_out is not None else None,
        cost=_sum_or_none([r.cost for r in spent]),
        seconds=sum(r.seconds for r in spent),
    )


def summarize(
    rows: Iterable[ResultRow],
    *,
    metric: MetricFamily | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
) -> list[GroupSummary]:
    """Summaries per (memory, epoch, source) and per (memory, epoch) over all sources.

    Args:
        rows: Result rows; duplicates of a (memory, task, epoch) keep the last one.
        metric: Family to report; rows scored with another one are rescored. None keeps rows as
            they are.
        seed: Bootstrap seed.
        n_resamples: Bootstrap resamples.

    Returns:
        Groups sorted by memory, epoch, then source with the `all` group first.
    """
    kept = latest_rows(rows)
    if metric is not None:
        kept = rescore(kept, metric)
    groups: dict[tuple[str, int, str], list[ResultRow]] = defaultdict(list)
    for row in kept:
        groups[(row.memory, row.epoch, ALL_SOURCES)].append(row)
        groups[(row.memory, row.epoch, row.data_source)].append(row)
    order = sorted(groups, key=lambda k: (memory_key(k[0]), k[1], k[2] != ALL_SOURCES, k[2]))
    return [_group(groups[k], *k, seed=seed, n_resamples=n_resamples) for k in order]


def pass_at_k_by_memory(rows: Iterable[ResultRow]) -> dict[str, dict[int, float]]:
    """Pass@k over epochs per memory mode: tasks correct in at least one of their first k epochs.

    Returns:
        memory -> {k: share}, for k from 1 to the largest number of epochs of any task.
    """
    attempts: dict[str, dict[str, list[tuple[int, bool]]]] = defaultdict(lambda: defaultdict(list))
    for row in latest_rows(rows):
        if row.error is None:  # a task without an outcome has no attempt to count yet
            attempts[row.memory][row.task_id].append((row.epoch, row.correct))
    table: dict[str, dict[int, float]] = {}
    for memory, by_task in sorted(attempts.items(), key=lambda kv: memory_key(kv[0])):
        ordered = {t: [ok for _, ok in sorted(a)] for t, a in by_task.items()}
        most = max(len(a) for a in ordered.values())
        table[memory] = {k: first_k_pass(ordered, k) for k in range(1, most + 1)}
    return table
