"""A look inside the bank: how each case was used over the runs, and what Q makes of it.

The bank keeps per-case counters (times shown, times it helped); the Q learner's replay buffer
keeps every run's shown and used ids with its reward, from which each case's use and the rewards
of the runs it was shown in follow. Q values come from the kernel estimate over that buffer (the
default form) or, where a network was trained (q.pt), from its checkpoint, for one task or
averaged over recent tasks (as the eviction rule does). Read only: nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from memento.memory.q.replay import REPLAY_FILE

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.network import QNetwork
    from memento.memory.q.replay import ReplayBuffer, Transition


@dataclass
class CaseUsage:
    """One case's part in the recorded runs."""

    shown: int = 0
    """Runs that showed it."""
    used: int = 0
    """Runs whose planner said it used it."""
    unreported: int = 0
    """Runs that showed it without saying which cases were used."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Each run that showed it, oldest first: at, reward, used (None: not reported), key."""


def usage(transitions: Iterable[Transition]) -> dict[str, CaseUsage]:
    """Per-case use over `transitions` (oldest first)."""
    found: dict[str, CaseUsage] = {}
    for t in transitions:
        for cid in dict.fromkeys(t.shown_ids):
            u = found.setdefault(cid, CaseUsage())
            u.shown += 1
            used = None if t.used_ids is None else cid in t.used_ids
            u.used += bool(used)
            u.unreported += used is None
            u.history.append({"at": t.created_at, "reward": t.reward, "used": used, "key": t.key})
    return found


def open_replay(q_dir: Path) -> ReplayBuffer | None:
    """The replay buffer in `q_dir`, or None when there is none (nothing is created)."""
    path = Path(q_dir) / REPLAY_FILE
    if not path.is_file():
        return None
    from memento.memory.q.replay import ReplayBuffer

    return ReplayBuffer(path, capacity=None)


def open_network(bank: CaseBank, q_dir: Path) -> QNetwork | None:
    """The Q network checkpointed in `q_dir` for `bank`, or None when there is none."""
    if not (Path(q_dir) / "q.pt").is_file():
        return None
    from memento.memory.q.selector import QSelector

    return QSelector(bank, checkpoint_dir=q_dir, allow_fallback=True).network


class QReader(Protocol):
    """Q(task, case) as a store's learned selection sees it (read only)."""

    def values(self, task: str, ids: Sequence[str], namespace: str | None = None) -> np.ndarray:
        """Q of each case id at `task`, shape (len(ids),)."""
        ...

    def close(self) -> None:
        """Release files."""
        ...


class NetworkValues:
    """A checkpointed Q network as a `QReader`."""

    def __init__(self, bank: CaseBank, network: QNetwork) -> None:
        """Score `bank`'s cases with `network`."""
        self.bank = bank
        self.network = network

    def values(self, task: str, ids: Sequence[str], namespace: str | None = None) -> np.ndarray:
        """Q of each case id at `task` (the task is embedded by the bank)."""
        from memento.memory.q.config import read_cases
        from memento.memory.q.network import query_vector

        vectors = read_cases(self.bank, self.network.config.case_side, list(ids))
        plain = self.bank.embed_query(task)
        return q_values(self.network, query_vector(self.network, task, plain), vectors)

    def close(self) -> None:
        """Nothing to release."""


def open_q(bank: CaseBank, q_dir: Path) -> QReader | None:
    """The store's Q in `q_dir`, or None when nothing was recorded there.

    Its network where one was trained (q.pt), else the kernel estimate over its replay buffer.
    """
    network = open_network(bank, q_dir)
    if network is not None:
        return NetworkValues(bank, network)
    if not (Path(q_dir) / REPLAY_FILE).is_file():
        return None
    from memento.memory.q.kernel import KernelLearner

    return KernelLearner.open(bank, q_dir)


def q_values(network: QNetwork, task_vectors: np.ndarray, case_vectors: np.ndarray) -> np.ndarray:
    """Q of each case, averaged over the tasks (rows of `task_vectors`); shape (n_cases,)."""
    from memento.memory.q.selector import q_scores

    tasks = np.atleast_2d(task_vectors)
    total = np.zeros(len(case_vectors), dtype=np.float64)
    for vector in tasks:
        total += q_scores(network, vector, case_vectors)
    return total / max(len(tasks), 1)


def spread(values: Sequence[float]) -> dict[str, float]:
    """n, mean and quartiles of `values` (n=0 alone when empty)."""
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=np.float64)
    q = np.quantile(arr, [0.0, 0.25, 0.5, 0.75, 1.0])
    return {
        "n": len(arr), "mean": float(arr.mean()), "min": float(q[0]), "p25": float(q[1]),
        "median": float(q[2]), "p75": float(q[3]), "max": float(q[4]),
    }  # fmt: skip
