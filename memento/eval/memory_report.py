"""The report's look inside memory: how use spread over the cases, and the Q values shown.

Per-case usage comes from the rows (the ids of the cases each task was shown). Q values come
from a run's own store (<run>/store/<memory>/q: the checkpoint and replay buffer the run
trained): Q(task, case) of every case shown to every recorded task, under the final network.
A run without that store (or a Q-function shared with `memento q serve-trainer`) shows usage only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from memento.eval.results import ResultRow
from memento.eval.run_config import STORE_DIR
from memento.memory.case_stats import spread

if TYPE_CHECKING:
    from memento.eval.report import RunData


def usage_counts(rows: Sequence[ResultRow]) -> Counter[str]:
    """How many tasks (rows) each case was shown to."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update(dict.fromkeys(row.case_ids, 1))
    return counts


def top_share(counts: Counter[str], fraction: float = 0.1) -> float | None:
    """Share of all shows that went to the most-shown `fraction` of the cases shown."""
    total = sum(counts.values())
    if not total:
        return None
    n = max(1, round(len(counts) * fraction))
    return sum(c for _, c in counts.most_common(n)) / total


def shown_q_values(home: Path) -> list[float] | None:
    """Q(task, case) of each case shown in each run recorded in the store at `home`, or None."""
    from memento.memory.case_bank import CaseBank
    from memento.memory.case_stats import open_q, open_replay

    q_dir = home / "q"
    replay = open_replay(q_dir)
    if replay is None or not (home / "chroma").is_dir():
        return None
    try:
        bank = CaseBank.from_settings(path=home / "chroma")
        reader = open_q(bank, q_dir)
    except Exception:  # noqa: BLE001 - another embedder or a broken store: no Q section
        return None
    if reader is None:
        return None
    values: list[float] = []
    for t in replay.all():
        present = [c.id for c in bank.get_many(list(t.shown_ids))]
        if present:
            values.extend(float(v) for v in reader.values(t.task, present, t.namespace))
    reader.close()
    replay.close()
    return values


def _fmt(stats: dict[str, float]) -> list[str]:
    if not stats.get("n"):
        return ["0", "", "", "", ""]
    return [str(int(stats["n"])), f"{stats['mean']:.3f}", f"{stats['p25']:.3f}",
            f"{stats['median']:.3f}", f"{stats['p75']:.3f} / {stats['max']:.3f}"]  # fmt: skip


def memory_section(runs: Sequence[RunData]) -> list[str]:
    """Markdown: per-case usage per run and memory mode, and the Q values shown (if stored)."""
    usage_rows: list[list[str]] = []
    q_rows: list[list[str]] = []
    for run in runs:
        for memory in sorted({r.memory for r in run.rows}):
            if memory == "none":
                continue
            rows = [r for r in run.rows if r.memory == memory]
            counts = usage_counts(rows)
            share = top_share(counts)
            usage_rows.append([
                run.label, memory, str(len(rows)), str(len(counts)),
                *_fmt(spread(list(map(float, counts.values()))))[1:],
                "" if share is None else f"{100 * share:.0f}%",
            ])  # fmt: skip
            q = shown_q_values(Path(run.folder) / STORE_DIR / memory)
            if q:
                q_rows.append([run.label, memory, *_fmt(spread(q))])
    if not usage_rows:
        return []
    lines = [
        "## Memory use", "",
        "Per case shown during the run: how many tasks it was shown to (mean, quartiles, max), "
        "and the share of all shows that went to the top 10% of those cases.", "",
        "| Run | Memory | Tasks | Cases shown | Mean | P25 | Median | P75 / max | Top 10% |",
        "|---|---|---|---|---|---|---|---|---|",
        *["| " + " | ".join(r) + " |" for r in usage_rows], "",
    ]  # fmt: skip
    if q_rows:
        lines += [
            "Q(task, case) of every case shown to every recorded task, under the run's final "
            "Q-function (from the run's store).", "",
            "| Run | Memory | Values | Mean | P25 | Median | P75 / max |",
            "|---|---|---|---|---|---|---|",
            *["| " + " | ".join(r) + " |" for r in q_rows], "",
        ]  # fmt: skip
    return lines
