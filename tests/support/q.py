"""Shared helpers for the Q-function tests: a small bank over hashed embeddings."""

from __future__ import annotations

from pathlib import Path

from memento.memory.case_bank import CaseBank
from memento.memory.q.network import QConfig
from memento.testing import HashEmbeddings, make_case

DIM = 32
GOOD = [f"alpha river mountain {i} green" for i in range(6)]
BAD = [f"beta desert canyon {i} red" for i in range(6)]


def toy_bank(path: Path) -> tuple[CaseBank, list[str], list[str]]:
    """A bank with 6 'good' and 6 'bad' cases; returns it with the two id lists."""
    bank = CaseBank(path=path / "chroma", embeddings=HashEmbeddings(DIM), dedup_threshold=None)
    good = bank.add_cases([make_case(t) for t in GOOD])
    bad = bank.add_cases([make_case(t, label="negative") for t in BAD])
    return bank, good, bad


def toy_config(**overrides: object) -> QConfig:
    """A small, fast Q config for DIM-d hashed vectors."""
    base: dict[str, object] = {"dim": DIM, "hidden": 16, "lr": 1e-2, "dropout": 0.0, "epochs": 5}
    base.update(overrides)
    return QConfig.from_dict(base)
