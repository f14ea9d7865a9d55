"""The parent's re-queueing of dead workers' pairs (`memento.eval.workers._Pool`), no processes.

A pair is queued again only when it is neither done, queued nor in flight on a live worker, so
two workers never run one thread id at once because the parent guessed.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from memento.eval.workers import ORPHAN_GRACE_S, Key, _Pool


class _Proc:
    def __init__(self) -> None:
        self.alive = True

    def is_alive(self) -> bool:
        return self.alive


class _Jobs:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)


INDEX = {"a": 0, "b": 1, "c": 2}


def _pool(workers: int = 2) -> Any:
    pool: Any = _Pool.__new__(_Pool)
    pool.jobs = _Jobs()
    pool.procs = [_Proc() for _ in range(workers)]
    pool.queued = set()
    pool.in_flight = {w: set() for w in range(workers)}
    pool.ready = set(range(workers))
    pool.dead = set()
    pool.errors = []
    pool.orphans = False
    pool.last_event = time.monotonic()
    return pool


def _quiet(pool: Any) -> None:
    pool.last_event = time.monotonic() - ORPHAN_GRACE_S - 1


def test_a_dead_workers_pair_is_queued_again_once() -> None:
    pool = _pool()
    for key in [("a", 1), ("b", 1)]:
        pool.put(key, INDEX)
    pool.started(0, ("a", 1))
    pool.started(1, ("b", 1))
    pool.procs[0].alive = False
    pending: set[Key] = {("a", 1), ("b", 1)}
    pool.reap(pending, INDEX)
    pool.reap(pending, INDEX)
    assert pool.jobs.items == [(0, 1), (1, 1), (0, 1)]
    assert pool.queued == {("a", 1)}


def test_a_done_pair_of_a_dead_worker_is_not_queued_again() -> None:
    pool = _pool()
    pool.put(("a", 1), INDEX)
    pool.started(0, ("a", 1))
    pool.procs[0].alive = False
    pool.reap(set(), INDEX)
    assert pool.jobs.items == [(0, 1)]


def test_a_pair_running_elsewhere_is_not_queued_twice() -> None:
    pool = _pool()
    pool.started(1, ("a", 1))
    pool.put(("a", 1), INDEX)
    assert pool.jobs.items == []


def test_an_unannounced_pair_of_a_dead_worker_waits_for_idle_live_workers() -> None:
    pool = _pool()
    for key in [("a", 1), ("b", 1)]:
        pool.put(key, INDEX)
    pool.started(1, ("b", 1))  # worker 0 took ("a", 1) and died before saying so
    pool.procs[0].alive = False
    pending: set[Key] = {("a", 1), ("b", 1)}
    _quiet(pool)
    pool.reap(pending, INDEX)
    assert pool.jobs.items == [(0, 1), (1, 1)]  # worker 1 is busy: ("a", 1) may still be queued
    pool.finished(1, ("b", 1))
    pending.discard(("b", 1))
    pool.last_event = time.monotonic()
    pool.reap(pending, INDEX)
    assert pool.jobs.items == [(0, 1), (1, 1)]  # idle, but not yet quiet for the grace time
    _quiet(pool)
    pool.reap(pending, INDEX)
    pool.reap(pending, INDEX)
    assert pool.jobs.items == [(0, 1), (1, 1), (0, 1)]  # lost pair queued again, once


def test_a_live_worker_still_starting_keeps_queued_pairs_where_they_are() -> None:
    pool = _pool()
    pool.ready = {0}
    pool.put(("a", 1), INDEX)
    pool.procs[0].alive = False
    _quiet(pool)
    pool.reap({("a", 1)}, INDEX)
    assert pool.jobs.items == [(0, 1)]


def test_every_worker_dead_is_an_error() -> None:
    pool = _pool()
    for proc in pool.procs:
        proc.alive = False
    with pytest.raises(RuntimeError, match="every eval worker died"):
        pool.reap({("a", 1)}, INDEX)
