"""Per-case tally locks, batched fold reads, and the transition log's one-statement keyed insert."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memento.memory import usage
from memento.memory.case_bank import CaseBank
from memento.memory.q.replay import ReplayBuffer, Transition
from memento.memory.q.share.transitions import SqliteTransitionLog
from memento.memory.usage import Tally, add_tally
from memento.testing import HashEmbeddings, make_case

PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}
TASKS = [f"Who wrote the book number {w}?" for w in ("one", "two", "three", "four", "five")]


class _BlockingCollection:
    """A collection stand-in whose `update` of one id waits until released."""

    def __init__(self, blocked_id: str) -> None:
        self.blocked_id = blocked_id
        self.entered = threading.Event()
        self.release = threading.Event()
        self.updated: list[str] = []

    def update(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        if ids[0] == self.blocked_id:
            self.entered.set()
            assert self.release.wait(30), "the test never released the blocked update"
        self.updated.append(ids[0])


def test_update_of_one_case_does_not_wait_for_another() -> None:
    where = "test://locks#blocking"
    col = _BlockingCollection("a")
    # Cases share a lock only when their keys hash to one stripe: pick one that does not.
    other = next(
        f"b{i}"
        for i in range(1000)
        if usage._case_lock((where, f"b{i}")) is not usage._case_lock((where, "a"))
    )
    slow = threading.Thread(target=add_tally, args=(col, where, "a", {}, Tally(1, 1.0)))
    slow.start()
    try:
        assert col.entered.wait(30)
        fast = threading.Thread(target=add_tally, args=(col, where, other, {}, Tally(1, 0.0)))
        fast.start()
        fast.join(30)
        assert not fast.is_alive(), "an update of another case waited for the blocked one"
        assert col.updated == [other]
        assert usage.writer_id()  # the writer id has its own lock
    finally:
        col.release.set()
        slow.join(30)
    assert col.updated == [other, "a"]


def _bank(tmp_path: Path) -> CaseBank:
    bank = CaseBank(path=tmp_path / "chroma", embeddings=HashEmbeddings(), dedup_threshold=0.97)
    bank.batch_size = 2
    return bank


def test_folds_read_their_targets_in_batched_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = _bank(tmp_path)
    stored = [bank.add(t, PLAN, reward=1.0) for t in TASKS]
    col = bank.collection
    real_get = col.get
    reads: list[list[str]] = []

    def counting_get(*args: Any, **kwargs: Any) -> Any:
        if "documents" in (kwargs.get("include") or []):
            reads.append(list(kwargs.get("ids") or []))
        return real_get(*args, **kwargs)

    monkeypatch.setattr(col, "get", counting_get)
    report = bank.add_cases_report([make_case(t.lower(), label="negative") for t in TASKS])
    monkeypatch.undo()
    assert (report.added, report.merged) == (0, len(TASKS))
    assert reads == [stored[0:2], stored[2:4], stored[4:5]]
    for rid in stored:
        case = bank.get(rid)
        assert case is not None and case.observations == 2
        assert case.reward == pytest.approx(0.5)


def test_vanished_fold_target_undoes_earlier_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = _bank(tmp_path)
    bank.batch_size = 1
    stored = [bank.add(t, PLAN, reward=1.0) for t in TASKS[:2]]
    before = [bank.get(rid) for rid in stored]
    col = bank.collection
    real_get = col.get

    def hiding_get(*args: Any, **kwargs: Any) -> Any:
        got = real_get(*args, **kwargs)
        if "documents" in (kwargs.get("include") or []) and kwargs.get("ids") == [stored[1]]:
            return {key: [] if isinstance(val, list) else val for key, val in got.items()}
        return got

    monkeypatch.setattr(col, "get", hiding_get)
    with pytest.raises(KeyError, match="vanished"):
        bank.add_cases([make_case(t.lower(), label="negative") for t in TASKS[:2]])
    monkeypatch.undo()
    assert [bank.get(rid) for rid in stored] == before
    assert bank.count() == 2


def _transition(key: str) -> Transition:
    vec = np.ones(4, dtype=np.float32) / 2.0
    return Transition("task", vec, ("c1",), None, 1.0, key=key)


def test_transition_log_reports_each_key_new_once_under_racing_writers(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    first = SqliteTransitionLog(path)
    assert first.append(_transition("k0")) is True
    assert first.append(_transition("k0")) is False
    logs = [SqliteTransitionLog(path) for _ in range(4)]
    keys = [f"k{i}" for i in range(1, 41)]
    results: list[list[bool]] = [[] for _ in logs]

    def run(n: int) -> None:
        for key in keys:
            results[n].append(logs[n].append(_transition(key)))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(logs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for per_key in zip(*results, strict=True):
        assert sum(per_key) == 1  # exactly one writer was told the key was new
    assert first.count() == 1 + len(keys)
    for log in [first, *logs]:
        log.close()


def test_insert_new_keeps_capacity_and_skips_known_keys() -> None:
    buffer = ReplayBuffer(None, capacity=2)
    assert [buffer.insert_new(_transition(k)) for k in ("a", "b", "c")] == [True] * 3
    assert [t.key for t in buffer.all()] == ["b", "c"]
    assert buffer.insert_new(_transition("c")) is False
    assert len(buffer) == 2
    with pytest.raises(ValueError, match="reward"):
        buffer.insert_new(Transition("task", np.ones(4), ("c1",), None, 2.0, key="bad"))
    assert len(buffer) == 2


class _FlakyCollection:
    """A collection whose first `fail` queries raise the given Chroma error."""

    def __init__(self, fail: int, message: str) -> None:
        self.fail, self.message, self.calls = fail, message, 0

    def query(self, **kwargs: object) -> str:
        from chromadb.errors import InternalError

        self.calls += 1
        if self.calls <= self.fail:
            raise InternalError(self.message)
        return "hits"


def test_query_retries_the_transient_segment_error_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Chroma server answers a query that races the first writes of a collection with
    'Nothing found on disk' (seen once in CI, chroma-core/chroma#4212): retried, bounded."""
    from chromadb.errors import InternalError

    from memento.memory import collection

    monkeypatch.setattr(collection, "QUERY_RETRY_DELAYS", (0.0, 0.0, 0.0))
    transient = collection.TRANSIENT_QUERY_ERRORS[0]
    flaky = _FlakyCollection(2, f"Error executing plan: Internal error: {transient}")
    assert collection.query(flaky, n_results=1) == "hits" and flaky.calls == 3
    stuck = _FlakyCollection(10, transient)
    with pytest.raises(InternalError):
        collection.query(stuck, n_results=1)
    assert stuck.calls == 4  # the first try and three retries
    other = _FlakyCollection(1, "disk I/O error")
    with pytest.raises(InternalError, match="disk I/O"):
        collection.query(other, n_results=1)
    assert other.calls == 1
