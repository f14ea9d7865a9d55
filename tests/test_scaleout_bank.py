"""Several processes share one server-backed CaseBank: what they write is there, once.

The guarantees tested (and stated in memento.memory.writer / memento.memory.usage):
- distinct cases written by concurrent processes all land, none twice;
- usage counters (`update(..., retrieved=1)`) lose no increment under concurrent writers;
- one id written by several processes at once is stored once, as one observation (an id
  names one write: the others are retries of it);
- two near-duplicates written at once end up as one case or two, never zero, and each id
  resolves to the record that holds it.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from multiprocessing.pool import Pool

import pytest

from memento.testing.scaleout import count_uses, fold_many, open_bank, write_distinct, write_one

pytestmark = [pytest.mark.services, pytest.mark.integration]
WRITERS = 4
PLAN = {"plan": [{"id": 1, "description": "Look it up."}]}


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """Four spawned worker processes, shared by the tests of this module (spawning is slow)."""
    with multiprocessing.get_context("spawn").Pool(WRITERS) as workers:
        workers.map(time.sleep, [0.0] * WRITERS)  # start them before any timing matters
        yield workers


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def check_thousand(pool: Pool, chroma_url: str, batch: int) -> None:
    collection = fresh("scale_distinct")
    open_bank(chroma_url, collection)  # create it once, before the race
    start = time.time() + 1.0
    jobs = [(chroma_url, collection, w, 250, batch, start) for w in range(WRITERS)]
    results = pool.map(write_distinct, jobs, chunksize=1)
    assert [r["added"] for r in results] == [250] * WRITERS
    assert [r["merged"] for r in results] == [0] * WRITERS
    bank = open_bank(chroma_url, collection)
    cases = bank.list()
    ids = [c.id for c in cases]
    tasks = [c.task for c in cases]
    assert len(ids) == len(set(ids)) == 1000
    assert len(set(tasks)) == 1000
    assert set(ids) == {i for r in results for i in r["ids"]}
    assert set(ids) == {f"w{w}-{i}" for w in range(WRITERS) for i in range(250)}
    assert bank.count() == 1000


def test_four_writers_store_all_1000_cases_once(pool: Pool, chroma_url: str) -> None:
    check_thousand(pool, chroma_url, batch=50)


@pytest.mark.long
def test_four_writers_one_add_per_case(pool: Pool, chroma_url: str) -> None:
    check_thousand(pool, chroma_url, batch=1)


def test_concurrent_usage_counts_lose_nothing(pool: Pool, chroma_url: str) -> None:
    collection = fresh("scale_usage")
    bank = open_bank(chroma_url, collection, dedup=None)
    ids = [bank.add(f"shared case number {i}", PLAN, reward=1.0) for i in range(2)]
    bank.update(ids[0], retrieved=3, helpful=1)  # base counts from before the race
    start = time.time() + 1.0
    rounds = 20
    jobs = [(chroma_url, collection, ids, rounds, start) for _ in range(WRITERS)]
    done = pool.map(count_uses, jobs, chunksize=1)
    retrieved = sum(d["retrieved"] for d in done)
    helpful = sum(d["helpful"] for d in done)
    first, second = bank.get_many(ids)
    assert (first.times_retrieved, first.times_helpful) == (3 + retrieved, 1 + helpful)
    assert (second.times_retrieved, second.times_helpful) == (retrieved, helpful)
    # Every reader sees the totals: listing and search build cases the same way.
    listed = {c.id: c.times_retrieved for c in bank.list()}
    assert listed == {ids[0]: 3 + retrieved, ids[1]: retrieved}
    hit = bank.search("shared case number 1", k=1)[0].case
    assert hit.id == ids[1] and hit.times_helpful == helpful
    # A relabel keeps the counters (it writes only reward and label).
    relabelled = bank.update(ids[1], reward=0.0)
    assert (relabelled.label, relabelled.times_retrieved) == ("negative", retrieved)


def test_same_id_from_four_writers_is_stored_once(pool: Pool, chroma_url: str) -> None:
    collection = fresh("scale_same")
    open_bank(chroma_url, collection)
    start = time.time() + 1.0
    task = "What is the tallest mountain in Africa?"
    jobs = [(chroma_url, collection, task, "same-id", float(w % 2), start) for w in range(4)]
    assert pool.map(write_one, jobs, chunksize=1) == ["same-id"] * 4
    bank = open_bank(chroma_url, collection)
    (case,) = bank.list()
    # An id names one write: the first add wins (Chroma ignores later adds of the id) and the
    # others count as retries of it, whether they saw it stored before or after adding.
    assert case.id == "same-id" and case.observations == 1


def test_near_duplicates_written_at_once_are_kept_whole(pool: Pool, chroma_url: str) -> None:
    collection = fresh("scale_twins")
    open_bank(chroma_url, collection)
    start = time.time() + 1.0
    texts = ["Who painted the Mona Lisa?", "who painted the mona lisa", "WHO painted the Mona Lisa"]
    texts.append("Who painted the Mona Lisa")
    jobs = [
        (chroma_url, collection, text, f"run-{w}", float(w % 2), start)
        for w, text in enumerate(texts)
    ]
    holders = pool.map(write_one, jobs, chunksize=1)
    bank = open_bank(chroma_url, collection)
    cases = bank.list()
    # Each writer may look at the store before the others wrote: 1 to 4 records, but every
    # run is counted once and every id resolves to the record holding it.
    assert 1 <= len(cases) <= WRITERS
    assert sum(c.observations for c in cases) == WRITERS
    assert sum(c.reward * c.observations for c in cases) == pytest.approx(2.0)
    assert set(holders) <= {c.id for c in cases}
    assert [bank.resolve(f"run-{w}") for w in range(WRITERS)] == holders


def test_concurrent_folds_into_one_case_lose_nothing(pool: Pool, chroma_url: str) -> None:
    collection = fresh("scale_folds")
    bank = open_bank(chroma_url, collection)
    task = "What is the boiling point of water at sea level?"
    bank.add(task, PLAN, reward=1.0, case_id="original")
    start = time.time() + 1.0
    n = 8
    jobs = [(chroma_url, collection, task.upper(), w, n, start) for w in range(WRITERS)]
    holders = pool.map(fold_many, jobs, chunksize=1)
    assert holders == [["original"] * n] * WRITERS
    (case,) = bank.list()
    assert case.observations == 1 + WRITERS * n
    # Rewards alternate 0, 1 per writer: n / 2 ones each, plus the original's 1.0.
    assert case.reward == pytest.approx((1 + WRITERS * n / 2) / (1 + WRITERS * n))
    folded = [f"fold-{w}-{i}" for w in range(WRITERS) for i in range(n)]
    assert {bank.resolve(i) for i in folded} == {"original"}
    # A retried write of a folded id changes nothing.
    again = bank.add_cases_report([bank.get("original").model_copy(update={"id": folded[0]})])  # type: ignore[union-attr]
    assert (again.ids, again.existing) == (["original"], 1)
    assert bank.get("original").observations == 1 + WRITERS * n  # type: ignore[union-attr]
