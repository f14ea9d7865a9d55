"""Ids folded into another case, kept in an append-only side collection `<name>.aliases`.

When a near-duplicate is folded into a stored case, its id must keep resolving to that case so
that a retried write changes nothing. A list of merged ids inside the holder's metadata would be
read-modify-write, and two processes folding into one case at once would lose one list. Here
each fold adds one record (id = the folded id, metadata = the holder's id) to a side collection:
adds never overwrite one another, so no alias is ever lost. Banks written before this kept the
list in the holder's `merged_ids`; those are still read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from memento.memory.codec import MERGED_IDS_KEY
from memento.memory.collection import chunks

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

SUFFIX = ".aliases"
HOLDER_KEY = "holder"
LEGACY_FLAG = "has_merges"
"""Collection metadata flag of banks that kept merged ids in the holder's metadata."""


def add_aliases(bank: CaseBank, holder_of: Mapping[str, str]) -> list[str]:
    """Record each folded id's holder; returns the ids written (for a rollback).

    An id already recorded keeps its first holder (Chroma ignores adds of a stored id).
    """
    ids = list(holder_of)
    if not ids:
        return []
    side = bank.side_collection(SUFFIX)
    for chunk in chunks(ids, bank.batch_size):
        side.add(
            ids=chunk,
            embeddings=[[1.0]] * len(chunk),
            metadatas=[{HOLDER_KEY: holder_of[i]} for i in chunk],
        )
    return ids


def drop_aliases(bank: CaseBank, ids: list[str]) -> None:
    """Delete alias records (undo of `add_aliases`)."""
    for chunk in chunks(ids, bank.batch_size):
        bank.side_collection(SUFFIX).delete(ids=chunk)


def lookup(bank: CaseBank, ids: list[str]) -> dict[str, str]:
    """Map each of `ids` that was folded into a case to that case's id (which may be gone)."""
    found: dict[str, str] = {}
    for chunk in chunks(ids, bank.batch_size):
        got = bank.side_collection(SUFFIX).get(ids=chunk, include=["metadatas"])
        for alias, meta in zip(got["ids"], got["metadatas"], strict=True):
            found[alias] = str((meta or {})[HOLDER_KEY])
    missing = [i for i in ids if i not in found]
    if missing and (bank.collection.metadata or {}).get(LEGACY_FLAG):
        found.update(_legacy(bank, missing))
    return found


def _legacy(bank: CaseBank, ids: list[str]) -> dict[str, str]:
    """Aliases listed in holders' `merged_ids` (banks written before the side collection)."""
    wanted = set(ids)
    found: dict[str, str] = {}
    for chunk in chunks(ids, 50):
        clauses: list[dict[str, Any]] = [{MERGED_IDS_KEY: {"$contains": i}} for i in chunk]
        where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        got = bank.collection.get(where=where, include=["metadatas"])
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            for alias in (meta or {}).get(MERGED_IDS_KEY) or []:
                if alias in wanted:
                    found[alias] = rid
    return found
