"""Case statistics that concurrent writers never lose: one set of tally keys per writer process.

Chroma has no transactions and no compare-and-set, so `times_retrieved += 1` done as read, add,
write by two processes at once loses one increment. Chroma's `update` does merge metadata key
by key, though, so a key that only one process ever writes cannot be clobbered by another. Each
process (a fresh random id, made again after fork) keeps its additions to a case in its own keys
`tally.<writer>.<field>`: observations and reward sum (near-duplicates folded in) and
times retrieved / helpful. Readers add every writer's tallies to the record's base fields
(`read_case`). Within a process a lock per case (striped by hash) orders the updates of that case,
and the process keeps its running totals, so a read that lags behind its own last write cannot
roll it back; updates of other cases (and other banks) go to the server side by side.

A reward set by `CaseBank.update(reward=...)` is written as a base reward such that the total
comes out at that value, so the tallies of other writers stay untouched: a concurrent fold
counts as folded after the relabel. The stored `label` (used by filtered search) is written by
whoever changes the case last, from the totals it saw.

What it costs: each writer process that ever changes a case adds up to four keys to it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memento.memory.codec import REWARD_TEXT_KEY, from_record, stored_reward
from memento.memory.records import COUNTER_MAX, Case

PREFIX = "tally."
"""Metadata key prefix of per-writer tallies: tally.<writer>.<field>."""


@dataclass(frozen=True)
class Tally:
    """Additions to a case's statistics (one writer's, or everyone's summed)."""

    observations: int = 0
    reward_sum: float = 0.0
    retrieved: int = 0
    helpful: int = 0

    def __add__(self, other: Tally) -> Tally:
        """Field-wise sum."""
        return Tally(
            self.observations + other.observations,
            self.reward_sum + other.reward_sum,
            self.retrieved + other.retrieved,
            self.helpful + other.helpful,
        )

    def __neg__(self) -> Tally:
        """Field-wise negation (undoes an addition)."""
        return Tally(-self.observations, -self.reward_sum, -self.retrieved, -self.helpful)

    @classmethod
    def of(cls, case: Case) -> Tally:
        """What folding `case` into another case adds to it."""
        return cls(
            case.observations,
            case.reward * case.observations,
            case.times_retrieved,
            case.times_helpful,
        )


FIELDS = ("observations", "reward_sum", "retrieved", "helpful")

STRIPES = 64
"""Case locks per process: two cases share one only when their keys hash alike (rare, harmless)."""

_writer_lock = threading.Lock()
_writer: tuple[int, str] | None = None
_known: dict[tuple[str, str], Tally] = {}
_stripes: tuple[threading.Lock, ...] = tuple(threading.Lock() for _ in range(STRIPES))


def writer_id() -> str:
    """This process's writer id: random, made again in a forked child (never shared)."""
    global _writer, _stripes
    with _writer_lock:
        pid = os.getpid()
        if _writer is None or _writer[0] != pid:
            _writer = (pid, uuid.uuid4().hex[:12])
            _known.clear()
            # A lock held by a parent's thread at fork time would stay held in the child.
            _stripes = tuple(threading.Lock() for _ in range(STRIPES))
        return _writer[1]


def _case_lock(slot: tuple[str, str]) -> threading.Lock:
    """The lock that orders this process's updates of one case (`slot` = (where, case id))."""
    writer_id()  # a forked child replaces its stripes before taking one
    return _stripes[hash(slot) % STRIPES]


def _parse(meta: Mapping[str, Any] | None) -> dict[str, Tally]:
    """Each writer's tally in a record's metadata."""
    found: dict[str, dict[str, float]] = {}
    for key, value in (meta or {}).items():
        if key.startswith(PREFIX) and isinstance(value, int | float):
            writer, _, name = key[len(PREFIX) :].rpartition(".")
            if name in FIELDS:
                found.setdefault(writer, {})[name] = value
    return {
        w: Tally(
            int(v.get("observations", 0)),
            float(v.get("reward_sum", 0.0)),
            int(v.get("retrieved", 0)),
            int(v.get("helpful", 0)),
        )
        for w, v in found.items()
    }


def summed(meta: Mapping[str, Any] | None) -> Tally:
    """All writers' tallies of a record, added up."""
    total = Tally()
    for tally in _parse(meta).values():
        total = total + tally
    return total


def read_case(case_id: str, document: str | None, metadata: Mapping[str, Any] | None) -> Case:
    """A case from one Chroma record with every writer's tallies added (what readers see).

    Raises:
        ValueError: when the record is not a Memento case.
    """
    meta = dict(metadata or {})
    if "plan" not in meta or "reward" not in meta:
        return from_record(case_id, document, meta)  # raises the clear error
    extra = summed(meta)
    base_obs = int(meta.get("observations", 1))
    observations = base_obs + extra.observations
    reward = stored_reward(meta)
    if extra.observations or extra.reward_sum:  # else keep the stored value exactly
        reward = (reward * base_obs + extra.reward_sum) / max(observations, 1)
    meta.pop(REWARD_TEXT_KEY, None)  # the text is of the base reward, not of this sum
    meta.update(
        reward=min(max(reward, 0.0), 1.0),
        observations=min(max(observations, 1), COUNTER_MAX),
        times_retrieved=min(int(meta.get("times_retrieved", 0)) + extra.retrieved, COUNTER_MAX),
        times_helpful=min(int(meta.get("times_helpful", 0)) + extra.helpful, COUNTER_MAX),
    )
    return from_record(case_id, document, meta)


def base_reward_for(meta: Mapping[str, Any], reward: float) -> float:
    """The base `reward` to store so that, with the present tallies, the case's reward is `reward`.

    May fall outside [0, 1]; only `read_case` interprets it.
    """
    extra = summed(meta)
    base_obs = max(int(meta.get("observations", 1)), 1)
    return (reward * (base_obs + extra.observations) - extra.reward_sum) / base_obs


def add_tally(
    col: Any,
    where: str,
    case_id: str,
    meta: Mapping[str, Any],
    delta: Tally,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Add `delta` to this process's tally of one case, writing `extra` keys in the same update.

    `where` names the collection (location and name) so that one process's tallies for two
    banks never mix; `meta` is the record as just read. Returns the record's new metadata.
    If Chroma raises, the process's running tally stays as it was.
    """
    extras = None if extra is None else {case_id: extra}
    return add_tallies(col, where, {case_id: meta}, {case_id: delta}, extras)[case_id]


def add_tallies(
    col: Any,
    where: str,
    records: Mapping[str, Mapping[str, Any]],
    deltas: Mapping[str, Tally],
    extras: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """`add_tally` for many cases in one Chroma update (`records`: id -> metadata as just read).

    The cases' locks are taken together, in a fixed order, so concurrent callers cannot deadlock.
    Returns each case's new metadata.
    """
    writer = writer_id()
    slots = {cid: (where, cid) for cid in deltas}
    locks = sorted({id(lock): lock for lock in map(_case_lock, slots.values())}.items())
    for _, lock in locks:
        lock.acquire()
    try:
        new: dict[str, Tally] = {}
        changes: dict[str, dict[str, Any]] = {}
        for cid, delta in deltas.items():
            # Only this process writes its keys: what it last wrote beats a read that may lag.
            current = _known.get(slots[cid]) or _parse(records[cid]).get(writer, Tally())
            new[cid] = current + delta
            changes[cid] = dict((extras or {}).get(cid) or {})
            if delta != Tally():
                changes[cid].update(
                    {f"{PREFIX}{writer}.{name}": getattr(new[cid], name) for name in FIELDS}
                )
        ids = [cid for cid in deltas if changes[cid]]
        if ids:
            col.update(ids=ids, metadatas=[changes[cid] for cid in ids])
        for cid in deltas:
            _known[slots[cid]] = new[cid]
    finally:
        for _, lock in reversed(locks):
            lock.release()
    return {cid: {**records[cid], **changes[cid]} for cid in deltas}


def forget(where: str, ids: list[str]) -> None:
    """Drop this process's running tallies of deleted cases (an id may be written again)."""
    for case_id in ids:
        slot = (where, case_id)
        with _case_lock(slot):
            _known.pop(slot, None)
