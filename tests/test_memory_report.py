"""`memento report`'s memory section: per-case usage from the rows, Q values from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from memento.eval.memory_report import top_share, usage_counts
from memento.eval.report import build_report
from memento.eval.results import ResultRow, write_rows
from memento.eval.run_config import STORE_DIR
from memento.memory.case_bank import CaseBank
from memento.memory.q.learner import QLearner
from memento.testing import HashEmbeddings, make_case
from tests.support.q import toy_config


def _row(task: str, memory: str, case_ids: list[str]) -> ResultRow:
    return ResultRow(
        task_id=task, epoch=1, memory=memory, data_source="nq", question=f"{task}?",
        prediction="x", ground_truth=["x"], em=1.0, f1=1.0, pm=1.0, reward=1.0, seconds=0.1,
        case_ids=case_ids,
    )  # fmt: skip


def test_usage_counts_each_case_once_per_task() -> None:
    rows = [_row("a", "q", ["c1", "c2", "c1"]), _row("b", "q", ["c1"]), _row("c", "q", [])]
    counts = usage_counts(rows)
    assert counts == {"c1": 2, "c2": 1}
    assert top_share(counts) == pytest.approx(2 / 3)
    assert top_share(usage_counts([])) is None


def test_report_shows_usage_spread_and_the_q_values_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", lambda: HashEmbeddings(32))
    run = tmp_path / "run"
    home = run / STORE_DIR / "q"
    bank = CaseBank(path=home / "chroma", embeddings=HashEmbeddings(32), dedup_threshold=None)
    ids = bank.add_cases([make_case(f"task number {i} about rivers") for i in range(4)])
    learner = QLearner(bank, home / "q", toy_config())
    for i in range(3):
        learner.record(f"a question {i} about rivers", ids[:2], None, 1.0)
    learner.close()
    rows = [_row(f"t{i}", "q", ids[:2]) for i in range(3)] + [_row("n", "none", [])]
    rows.append(_row("s", "similarity", [ids[3]]))
    write_rows(run / "results.jsonl", rows)

    text = build_report([run], tmp_path / "out").markdown.read_text()
    section = text.split("## Memory use")[1]
    assert "| run | q | 3 | 2 | 3.000 | 3.000 | 3.000 | 3.000 / 3.000 | 50% |" in section
    assert "| run | similarity | 1 | 1 |" in section
    assert "| run | none |" not in section
    (q_line,) = [ln for ln in section.splitlines() if ln.startswith("| run | q | 6 |")]
    assert len(q_line.split("|")) == 9  # 3 tasks x 2 shown cases, mean, quartiles, max
