"""Load: the case bank under concurrent readers and writers, and RSS over a long offline run.

Short versions of benchmarks/load.py (which prints the latency and RSS tables), on the same
drivers (memento.testing.load): they assert no errors, that every write is readable afterwards,
and that RSS growth after warm-up stays under a generous bound. Timings are never asserted.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from memento.eval.datasets import load_dataset
from memento.eval.run_config import EvalConfig
from memento.eval.runner import run_eval
from memento.graphs import Context
from memento.testing.load import GrowthReport, case_bank_load, open_load_bank, sample_rss

pytestmark = pytest.mark.integration


def memory_growth(out: Path, tasks: int) -> GrowthReport:
    """One offline eval (memory on, checkpoints pruned) over `tasks` distinct tasks, RSS sampled."""
    out.mkdir(parents=True)
    data = out / "tasks.jsonl"
    rows = [{"question": f"What is {i} plus 1? (row {i})", "ground_truth": [str(i + 1)]}
            for i in range(tasks)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = EvalConfig(
        memory="similarity",
        out=out / "run",
        concurrency=4,
        prune_checkpoints=True,
        context=Context(reward_metric="pm", k=4, tools="calculator"),
    )
    run = run_eval(
        load_dataset(data).tasks, config, planner="offline", executor="offline",
        case_bank=open_load_bank(out / "bank"), progress=False,
    )  # fmt: skip
    return sample_rss(out / "run" / "results.jsonl", tasks, lambda: asyncio.run(run))


def test_case_bank_under_8_readers_and_2_writers(tmp_path: Path) -> None:
    report = case_bank_load(tmp_path / "bank", 5.0, readers=8, writers=2, preload=1000)
    assert report.errors == []
    assert report.reads and report.writes
    assert len(report.written) == len(report.writes)  # every add returned its own id
    assert report.unreadable == []
    assert report.final_count == report.preload + len(report.written)


def _assert_bounded(tasks: int, tmp_path: Path, max_growth_mb: float) -> None:
    growth = memory_growth(tmp_path / "growth", tasks)
    assert growth.rows == tasks  # one result row per task, none lost
    warm, end = growth.at(0.1), growth.samples[-1][1]
    assert end - warm < max_growth_mb, growth.samples


def test_memory_growth_is_bounded_over_300_tasks(tmp_path: Path) -> None:
    # 300 cases, their vectors and the SQLite page cache need a few MiB; a leak of the graph,
    # its checkpoints or per-task state would show as tens of MiB.
    _assert_bounded(300, tmp_path, max_growth_mb=64)


@pytest.mark.long
def test_memory_growth_is_bounded_over_10000_tasks(tmp_path: Path) -> None:
    # 10,000 cases in Chroma (HNSW index, 384-d vectors) legitimately take tens of MiB.
    _assert_bounded(10_000, tmp_path, max_growth_mb=400)
