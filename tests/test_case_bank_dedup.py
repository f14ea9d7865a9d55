"""Near-duplicate control and all-or-nothing writes of the CaseBank."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memento.memory.case_bank import CaseBank
from memento.testing import HashEmbeddings, make_case

PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}


@pytest.fixture
def bank(tmp_path: Path) -> CaseBank:
    return CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=0.97)


def test_near_copy_updates_statistics_instead_of_adding(bank: CaseBank) -> None:
    first = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    # Same words, different case and punctuation: cosine 1.0 under the hashing embedding.
    twin = bank.add("who wrote the play hamlet", PLAN, reward=0.0)
    assert twin == first
    assert bank.count() == 1
    case = bank.get(first)
    assert case is not None
    assert case.observations == 2
    assert case.reward == pytest.approx(0.5)  # the rule: mean reward over observations
    assert case.label == "positive"  # label_for(0.5)
    assert case.task == "Who wrote the play Hamlet?"  # the older task and plan are kept


def test_mean_reward_over_three_observations_label_of_the_best(bank: CaseBank) -> None:
    cid = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    bank.add("who wrote the play Hamlet", PLAN, reward=0.0)
    bank.add("WHO wrote the play hamlet?", PLAN, reward=0.0)
    case = bank.get(cid)
    assert case is not None and case.observations == 3
    assert case.reward == pytest.approx(1 / 3)  # the reward is the mean over observations
    assert case.label == "positive"  # the label follows the best observation (1.0), as the plan


def test_all_failed_observations_stay_negative(bank: CaseBank) -> None:
    cid = bank.add("Who wrote the play Hamlet?", PLAN, reward=0.0)
    bank.add("who wrote the play Hamlet", PLAN, reward=0.0)
    case = bank.get(cid)
    assert case is not None and case.observations == 2 and case.label == "negative"


def test_distinct_tasks_and_other_namespaces_are_not_merged(bank: CaseBank) -> None:
    bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    bank.add("Who wrote the play Macbeth?", PLAN, reward=1.0)
    bank.add("Who wrote the play Hamlet?", PLAN, reward=0.0, namespace="bob")
    assert bank.count() == 3


def test_threshold_none_disables_dedup(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=None)
    bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    bank.add("who wrote the play hamlet", PLAN, reward=0.0)
    assert bank.count() == 2


def test_retried_write_of_merged_case_is_idempotent(bank: CaseBank) -> None:
    holder = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0, case_id="thread-1")
    merged = bank.add("who wrote the play hamlet", PLAN, reward=0.0, case_id="thread-2")
    retried = bank.add("who wrote the play hamlet", PLAN, reward=0.0, case_id="thread-2")
    assert holder == merged == retried == "thread-1"
    assert bank.resolve("thread-2") == "thread-1"
    assert bank.resolve("unknown") is None
    case = bank.get("thread-1")
    assert case is not None and case.observations == 2


def test_add_cases_dedups_within_batch_and_against_store(bank: CaseBank) -> None:
    bank.add("What is the capital of Peru?", PLAN, reward=1.0)
    report = bank.add_cases_report(
        [
            make_case("what is the capital of peru", label="negative"),  # store twin
            make_case("Who painted the Mona Lisa?"),
            make_case("who painted the mona lisa", label="negative"),  # batch twin
            make_case("How tall is Mount Everest?"),
        ]
    )
    assert (report.added, report.merged, report.existing) == (2, 2, 0)
    assert len(report.ids) == 4 and report.ids[1] == report.ids[2]
    assert bank.count() == 3
    mona = bank.get(report.ids[1])
    assert mona is not None and mona.observations == 2 and mona.reward == pytest.approx(0.5)
    bank.add_cases([make_case("what is the capital of peru", case_id="x1")], dedup=False)
    assert bank.count() == 4


def test_add_cases_skips_ids_already_present(bank: CaseBank) -> None:
    cases = [make_case(f"distinct task {w}") for w in ("one", "two", "three")]
    bank.add_cases(cases, dedup=False)
    report = bank.add_cases_report(cases + [cases[0]], dedup=False)
    assert (report.added, report.merged, report.existing) == (0, 0, 4)
    assert report.ids == [c.id for c in cases] + [cases[0].id]
    assert bank.count() == 3


def test_failed_write_leaves_store_as_before(
    bank: CaseBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    before = bank.get(target)
    bank.batch_size = 2
    col = bank.collection
    real_add = col.add
    calls = {"n": 0}

    def flaky_add(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        real_add(*args, **kwargs)

    monkeypatch.setattr(col, "add", flaky_add)
    cases = [make_case("who wrote the play hamlet", label="negative")] + [
        make_case(f"unrelated task number {w}") for w in ("one", "two", "three", "four")
    ]
    with pytest.raises(RuntimeError, match="disk full"):
        bank.add_cases(cases)
    monkeypatch.undo()
    assert bank.count() == 1
    assert bank.get(target) == before
    assert all(bank.get(c.id) is None for c in cases)
