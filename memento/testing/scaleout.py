"""Worker functions for the scale-out tests and benchmark: run in spawned processes.

Each function opens its own CaseBank on the Chroma server (a fresh client per process), waits
until the shared start time so that all writers hit the server together, and returns what it
did so the parent can check the bank against it.
"""

from __future__ import annotations

import random
import time
from typing import Any

from memento.memory.case_bank import CaseBank
from memento.memory.records import Case
from memento.testing.fakes import HashEmbeddings, make_case

WORDS = [
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vu", "we", "zi")
    for b in ("bar", "cen", "dor", "fil", "gum", "hox", "jet", "kip", "lun", "mop")
]
"""100 made-up words: random 8-word tasks built from them are far apart under HashEmbeddings."""


def open_bank(url: str, collection: str, dedup: float | None = 0.97) -> CaseBank:
    """The server bank every worker opens (hashed embeddings: no model files, microseconds)."""
    return CaseBank(
        url=url, collection=collection, embeddings=HashEmbeddings(), dedup_threshold=dedup
    )


def distinct_cases(writer: int, n: int) -> list[Case]:
    """`n` cases whose tasks are random 8-word phrases (seeded by writer): no two are near."""
    rng = random.Random(1000 + writer)
    return [
        make_case(f"w{writer} c{i} " + " ".join(rng.sample(WORDS, 8)), case_id=f"w{writer}-{i}")
        for i in range(n)
    ]


def wait_until(start_at: float) -> None:
    """Sleep until the shared start time (time.time() clock)."""
    time.sleep(max(0.0, start_at - time.time()))


def write_distinct(args: tuple[str, str, int, int, int, float]) -> dict[str, Any]:
    """Write `n` distinct cases in batches of `batch` (1: one `add` per case)."""
    url, collection, writer, n, batch, start_at = args
    bank = open_bank(url, collection)
    cases = distinct_cases(writer, n)
    wait_until(start_at)
    added = merged = 0
    ids: list[str] = []
    for start in range(0, n, batch):
        report = bank.add_cases_report(cases[start : start + batch])
        added, merged = added + report.added, merged + report.merged
        ids.extend(report.ids)
    return {"ids": ids, "added": added, "merged": merged}


def count_uses(args: tuple[str, str, list[str], int, float]) -> dict[str, int]:
    """Call `bank.update(id, retrieved=1, helpful=i % 2)` `rounds` times on every id."""
    url, collection, ids, rounds, start_at = args
    bank = open_bank(url, collection)
    wait_until(start_at)
    helpful = 0
    for i in range(rounds):
        for cid in ids:
            bank.update(cid, retrieved=1, helpful=i % 2)
        helpful += i % 2
    return {"retrieved": rounds, "helpful": helpful}


def write_one(args: tuple[str, str, str, str | None, float, float]) -> str:
    """Add one case (same task from several processes at once); returns the holding id."""
    url, collection, task, case_id, reward, start_at = args
    bank = open_bank(url, collection)
    plan = {"plan": [{"id": 1, "description": "Look it up."}]}
    wait_until(start_at)
    return bank.add(task, plan, reward=reward, case_id=case_id)


def fold_many(args: tuple[str, str, str, int, int, float]) -> list[str]:
    """Add `n` copies of one task under distinct ids (each folds into its stored twin)."""
    url, collection, task, writer, n, start_at = args
    bank = open_bank(url, collection)
    plan = {"plan": [{"id": 1, "description": "Look it up."}]}
    wait_until(start_at)
    return [
        bank.add(task, plan, reward=float(i % 2), case_id=f"fold-{writer}-{i}") for i in range(n)
    ]
