"""Load: the case bank under concurrent readers and writers, and RSS over a long offline run.

Short versions of benchmarks/load.py (which prints the latency and RSS tables): they assert no
errors, that every write is readable afterwards, and that RSS growth after warm-up stays under a
generous bound. Timings are reported by the benchmark, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.load import case_bank_load, memory_growth

pytestmark = pytest.mark.integration


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
