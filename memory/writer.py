"""Batched, all-or-nothing writes into the Case Bank, with near-duplicate control.

Steps: drop ids already stored (or folded earlier: retries are idempotent), embed the rest in
batches, fold near-duplicates (cosine >= threshold, same namespace; within the batch and against
the store) into the case they copy, then write in batches below Chroma's maximum. A fold into a
stored case adds to this process's tally of it (`memento.memory.usage`) and records the folded
id in the alias collection (`memento.memory.aliases`); one that changes the case's label drops
its label-side reading (`memento.memory.labelled`). If any Chroma call fails, the records added
are deleted and the tallies and aliases are taken back, so the store is as it was.

Under concurrent writers (several processes, one Chroma server):
- an id names one write: writes of one id by several processes at once store it once, with
  the first writer's fields (Chroma ignores an `add` of an id it holds), like a retry would;
- folds into one stored case, and usage counts, never overwrite one another (per-writer
  tallies), and every folded id keeps resolving (append-only aliases);
- two near-duplicates with different ids written at the same moment may both be stored (each
  looked at the store before the other wrote); neither is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from memento.infra.progress import ProgressFn
from memento.memory.aliases import add_aliases, drop_aliases, lookup
from memento.memory.codec import (
    first_near_duplicate,
    merge_stats,
    shown_plan_update,
    to_metadata,
)
from memento.memory.collection import chunks, query_matching
from memento.memory.labelled import forget_labelled
from memento.memory.records import Case
from memento.memory.usage import Tally, add_tally, read_case, writer_id

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

WRITTEN_BY_KEY = "written_by"
"""Metadata key: a token of the write that added the record (tells a writer whether it won)."""


@dataclass
class AddReport:
    """What a write did."""

    ids: list[str] = field(default_factory=list)
    """For each input case, the id of the record that holds it."""
    added: int = 0
    """New records written."""
    merged: int = 0
    """Input cases folded into a near-duplicate (their statistics updated)."""
    existing: int = 0
    """Input cases whose id was already stored (nothing changed)."""


@dataclass
class _Plan:
    new: dict[str, Case] = field(default_factory=dict)
    """New records, with the near-duplicates of the same batch folded in."""
    given: dict[str, Case] = field(default_factory=dict)
    """Each new record as given, before those folds."""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    folds: dict[str, Tally] = field(default_factory=dict)
    """Stored case id -> what the folded near-duplicates add to it."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Folded id -> the id of the case holding it."""
    best: dict[str, float] = field(default_factory=dict)
    """New record id -> the reward of the observation whose plan it shows (batch folds)."""
    top: dict[str, Case] = field(default_factory=dict)
    """Stored case id -> the best-rewarded near-duplicate folded into it."""
    holder: dict[str, str] = field(default_factory=dict)


class PartialWriteError(RuntimeError):
    """A write failed and so did its rollback: the cases it added may still be stored."""

    def __init__(
        self, where: str, added: list[str], error: BaseException, undo_error: BaseException
    ) -> None:
        """Name the store, the write's error, the rollback's error and the ids left behind."""
        self.added = list(added)
        shown = ", ".join(self.added[:5]) + (" ..." if len(self.added) > 5 else "")
        super().__init__(
            f"writing cases to {where} failed ({type(error).__name__}: {error}) and undoing it "
            f"failed too ({type(undo_error).__name__}: {undo_error}); {len(self.added)} case(s) "
            f"it added may remain: [{shown}]. Delete them with `memento cases delete ID ...` "
            "once the store accepts writes again (folded counts are not listed)."
        )


@dataclass
class _Undo:
    added: list[str] = field(default_factory=list)
    tallies: list[tuple[str, Tally, dict[str, Any]]] = field(default_factory=list)
    """Folds done: target, what was added, and the label, plan and best reward it had."""
    aliases: list[str] = field(default_factory=list)


def add_to_bank(
    bank: CaseBank,
    cases: list[Case],
    *,
    threshold: float | None,
    progress: ProgressFn | None = None,
) -> AddReport:
    """Write `cases` into `bank`; see the module docstring for the rules."""
    report = AddReport()
    if not cases:
        return report
    plan = _Plan()
    plan.holder.update(holders(bank, list(dict.fromkeys(c.id for c in cases))))
    fresh: list[Case] = []
    seen: set[str] = set(plan.holder)
    for case in cases:
        if case.id not in seen:
            seen.add(case.id)
            fresh.append(case)
    vectors = bank.embed_texts([c.task for c in fresh], progress)
    _check_dim(bank, vectors)
    if threshold is None:
        for case, vec in zip(fresh, vectors, strict=True):
            plan.new[case.id] = plan.given[case.id] = case
            plan.vectors[case.id], plan.holder[case.id] = vec, case.id
    else:
        for namespace in dict.fromkeys(c.namespace for c in fresh):
            idx = [i for i, c in enumerate(fresh) if c.namespace == namespace]
            _plan_namespace(bank, plan, [fresh[i] for i in idx], vectors[idx], threshold)
    undo = _Undo()
    try:
        _add_new(bank, plan, undo, progress)
        _fold_all(bank, plan.folds, undo, plan.top)
        undo.aliases = add_aliases(bank, plan.aliases)
    except BaseException as exc:
        try:
            _rollback(bank, undo)
        except Exception as undo_exc:  # the store is still refusing: say what may be left
            raise PartialWriteError(where_of(bank), undo.added, exc, undo_exc) from exc
        raise
    report.ids = [plan.holder[c.id] for c in cases]
    report.added = len(undo.added)
    report.merged = len(plan.aliases)
    report.existing = len(cases) - report.added - report.merged
    return report


def _add_new(bank: CaseBank, plan: _Plan, undo: _Undo, progress: ProgressFn | None) -> None:
    """Add the new records, noting which ids another process stored first."""
    token = f"{writer_id()}:{uuid.uuid4().hex[:8]}"
    new_ids = list(plan.new)
    for start in range(0, len(new_ids), bank.batch_size):
        chunk = new_ids[start : start + bank.batch_size]
        bank.collection.add(
            ids=chunk,
            embeddings=np.stack([plan.vectors[i] for i in chunk]),
            documents=[plan.new[i].task for i in chunk],
            metadatas=[
                {**to_metadata(plan.new[i], plan.best.get(i)), WRITTEN_BY_KEY: token} for i in chunk
            ],
        )
        got = bank.collection.get(ids=chunk, include=["metadatas"])
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            if (meta or {}).get(WRITTEN_BY_KEY) == token:
                undo.added.append(rid)
                continue
            # Another process stored this id first: the same write, done once. Near-duplicates
            # this batch folded into it still count, on top of the stored record.
            extra = Tally.of(plan.new[rid]) + -Tally.of(plan.given[rid])
            if extra.observations:
                plan.folds[rid] = plan.folds.get(rid, Tally()) + extra
        if progress is not None:
            progress("writing", start + len(chunk), len(new_ids))


def _fold_all(bank: CaseBank, folds: dict[str, Tally], undo: _Undo, tops: dict[str, Case]) -> None:
    """Fold into each stored target, reading the targets in batched gets (one per chunk)."""
    for chunk in chunks(list(folds), bank.batch_size):
        got = bank.collection.get(ids=chunk, include=["documents", "metadatas"])
        records = {
            rid: (doc, meta)
            for rid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        for target in chunk:
            if target not in records:
                raise KeyError(
                    f"case {target!r} vanished while a near-duplicate was folded into it"
                )
            doc, meta = records[target]
            _fold(bank, target, doc, dict(meta or {}), folds[target], undo, tops.get(target))


def _fold(
    bank: CaseBank, target: str, doc: str | None, meta: dict[str, Any], delta: Tally, undo: _Undo,
    top: Case | None,
) -> None:  # fmt: skip
    """Add `delta` to this process's tally of a stored case (as just read); show the best plan."""
    read_case(target, doc, meta)  # refuses a foreign record
    changes, before = shown_plan_update(meta, top)
    add_tally(bank.collection, where_of(bank), target, meta, delta, changes)
    undo.tallies.append((target, delta, before))
    if changes["label"] != before["label"]:
        forget_labelled(bank, [target])


def where_of(bank: CaseBank) -> str:
    """The key of a bank's collection in a process's running tallies."""
    return f"{bank.location}#{bank.collection.name}"


def _plan_namespace(
    bank: CaseBank, plan: _Plan, cases: list[Case], vectors: np.ndarray, threshold: float
) -> None:
    """Decide, for one namespace, which cases are new and which fold into a near-twin."""
    first = first_near_duplicate(vectors, threshold)
    roots = [i for i in range(len(cases)) if first[i] < 0]
    store_hit = _nearest_in_store(bank, vectors[roots], cases[0].namespace, threshold)
    hit_of = dict(zip(roots, store_hit, strict=True))
    for i, case in enumerate(cases):
        target = hit_of.get(i) if first[i] < 0 else plan.holder[cases[int(first[i])].id]
        if target == case.id:  # stored by another process since `holders` looked: a retry
            plan.holder[case.id] = case.id
            continue
        if target is None:
            plan.new[case.id] = plan.given[case.id] = case
            plan.vectors[case.id], plan.holder[case.id] = vectors[i], case.id
            continue
        if target in plan.new:
            best = plan.best.get(target)
            plan.new[target], plan.best[target] = merge_stats(plan.new[target], case, best)
        else:
            plan.folds[target] = plan.folds.get(target, Tally()) + Tally.of(case)
            if target not in plan.top or case.reward > plan.top[target].reward:
                plan.top[target] = case
        plan.aliases[case.id] = target
        plan.holder[case.id] = target


def _nearest_in_store(
    bank: CaseBank, vectors: np.ndarray, namespace: str, threshold: float
) -> list[str | None]:
    """For each vector, the id of its nearest stored case in `namespace` if cosine >= threshold."""
    result: list[str | None] = [None] * len(vectors)
    if len(vectors) == 0 or bank.collection.count() == 0:
        return result
    for start in range(0, len(vectors), bank.batch_size):
        batch = vectors[start : start + bank.batch_size]
        found = query_matching(
            bank.collection, batch, 1, namespace=namespace, fetch=8, floor=threshold
        )
        for j, hits in enumerate(found):
            if hits and 1.0 - hits[0][1] >= threshold:
                result[start + j] = hits[0][0]
    return result


def holders(bank: CaseBank, ids: list[str]) -> dict[str, str]:
    """Map each id already stored, or folded into a stored case, to the id holding it."""
    col = bank.collection
    holder: dict[str, str] = {}
    for chunk in chunks(ids, bank.batch_size):
        holder.update((i, i) for i in col.get(ids=chunk, include=[])["ids"])
    missing = [i for i in ids if i not in holder]
    if not missing:
        return holder
    folded = lookup(bank, missing)
    alive: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(folded.values())), bank.batch_size):
        alive.update(col.get(ids=chunk, include=[])["ids"])
    holder.update((alias, rid) for alias, rid in folded.items() if rid in alive)
    return holder


def _rollback(bank: CaseBank, undo: _Undo) -> None:
    """Undo a failed write: delete what it added, take back its tallies and aliases."""
    for chunk in chunks(undo.added, bank.batch_size):
        bank.collection.delete(ids=chunk)
    where = where_of(bank)
    for target, delta, before in reversed(undo.tallies):
        got = bank.collection.get(ids=[target], include=["metadatas"])
        if got["ids"]:
            meta = dict(got["metadatas"][0] or {})
            kept = {k: v for k, v in before.items() if v is not None}
            add_tally(bank.collection, where, target, meta, -delta, kept)
    forget_labelled(bank, [target for target, _, _ in undo.tallies])  # labels may be restored
    drop_aliases(bank, undo.aliases)


def _check_dim(bank: CaseBank, vectors: np.ndarray) -> None:
    """Record the vector size on first write; refuse vectors of another size later."""
    if len(vectors) == 0:
        return
    dim = int(vectors.shape[1])
    known = bank.dimension
    if known is None:
        col = bank.collection
        col.modify(metadata={**(col.metadata or {}), "embedding_dim": dim})
    elif known != dim:
        raise ValueError(
            f"embeddings of size {dim} do not fit this bank, built with size {known} "
            f"by {bank.embedding_model!r}"
        )
