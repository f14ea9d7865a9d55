"""Helpers for tests/test_q_share.py that child processes import: light (no torch, no Chroma)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from memento.memory.q.replay import Transition
from memento.memory.q.share.transitions import PgTransitionLog, SqliteTransitionLog

DIM = 32


def transition(i: int, shown: list[str], *, proc: int = 0) -> Transition:
    """The i-th transition of a process, keyed p<proc>-t<i>."""
    vec = np.zeros(DIM, dtype=np.float32)
    vec[i % DIM] = 1.0
    return Transition(
        task=f"task {proc}-{i}",
        task_vector=vec,
        shown_ids=(shown[i % len(shown)],),
        used_ids=None,
        reward=float(i % 2),
        key=f"p{proc}-t{i}",
    )


def append_many(spec: str, proc: int, shown: list[str], count: int) -> None:
    """Child process: `count` transitions, each sent twice (a retry), into the shared log."""
    log: Any = (
        PgTransitionLog(spec, channel="test")
        if spec.startswith("postgres")
        else SqliteTransitionLog(Path(spec) / "test" / "transitions.sqlite")
    )
    for i in range(count):
        log.append(transition(i, shown, proc=proc))
        log.append(transition(i, shown, proc=proc))
    log.close()
