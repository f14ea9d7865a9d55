"""The worker's side of a shared Q: where the share lives (`open_share`) and `QWorker`.

A worker logs transitions for the channel's one trainer and acts on the newest published
weights (see `memento.memory.q.share` for the roles and the consistency guarantees).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from memento.infra.dsn import is_dsn
from memento.memory.learning import UpdateReport
from memento.memory.q.checkpoint import CheckpointError, bank_model_hash
from memento.memory.q.config import LearnerConfig, fresh_network
from memento.memory.q.network import QConfig
from memento.memory.q.replay import Transition, check_run
from memento.memory.q.selector import KeptSelectors, QSelector
from memento.memory.q.share.transitions import (
    PgTransitionLog,
    SqliteTransitionLog,
    TransitionLog,
    relabel_key,
)
from memento.memory.q.share.weights import DirWeights, Identity, PgWeights, WeightsStore

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

LOG_FILE = "transitions.sqlite"
logger = logging.getLogger(__name__)


@dataclass
class QShare:
    """Where workers and the trainer meet: the transition log and the weights store."""

    log: TransitionLog
    weights: WeightsStore
    spec: str
    channel: str

    def close(self) -> None:
        """Close both connections."""
        self.log.close()
        self.weights.close()


def open_share(spec: str | Path, bank: CaseBank, *, channel: str = "default") -> QShare:
    """Open the share a DSN or a folder names, for a bank's embedding model."""
    text = str(spec)
    identity = Identity(bank.embedding_model, bank_model_hash(bank))
    if is_dsn(text):
        return QShare(
            PgTransitionLog(text, channel=channel),
            PgWeights(text, identity, channel=channel),
            text,
            channel,
        )
    folder = Path(text) / channel
    return QShare(
        SqliteTransitionLog(folder / LOG_FILE), DirWeights(folder, identity), text, channel
    )


class QWorker:
    """A worker's learner (a `Learner`): logs transitions, acts on the newest published weights.

    Not thread-safe, like `QLearner`: one caller at a time (the graph's `Deps` sees to it).
    """

    def __init__(
        self,
        bank: CaseBank,
        share: QShare,
        config: QConfig | None = None,
        learner: LearnerConfig | None = None,
        *,
        namespace: str = "default",
    ) -> None:
        """Start from the newest published version, else the seeded initial network.

        Of `learner` only the selectors' candidate search (shortlist, exact_below) applies here.
        """
        self.bank = bank
        self.share = share
        self.namespace = namespace
        self.settings = learner or LearnerConfig()
        self.network = fresh_network(bank, config)
        self.version = 0
        self.loads = 0
        self._selectors = KeptSelectors()
        self.refresh()

    def refresh(self) -> int:
        """Load the published weights when their version is newer; returns the version held.

        An unusable publication is logged and skipped (the current weights stay).
        """
        if self.share.weights.version() <= self.version:
            return self.version
        try:
            ckpt = self.share.weights.load()
        except CheckpointError as exc:
            logger.warning("published Q weights unusable, keeping v%d: %s", self.version, exc)
            return self.version
        if ckpt is not None and ckpt.meta.version > self.version:
            # A new object, not an in-place copy: a task already scoring keeps its weights.
            self.network, self.version = ckpt.network, ckpt.meta.version
            self.loads += 1
        return self.version

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> QSelector:
        """A selector over the newest published weights (checked now, at the task's start)."""
        self.refresh()
        return self._selectors.get(self.bank, self.network, greedy, temperature, self.settings)

    def close(self) -> None:
        """Close the share's log and weights connections."""
        self.share.close()

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        task_vector: np.ndarray | None = None,
        key: str | None = None,
        relabel: bool = False,
        shown_labels: Sequence[str] | None = None,
        protect: Sequence[str] = (),
    ) -> UpdateReport:
        """Append the transition (or its relabel) to the shared log for the trainer.

        Raises:
            ValueError: reward outside [0, 1] or no shown ids (nothing is logged then).
        """
        check_run(reward, shown_ids)  # refuse before embedding anything
        vector = task_vector if task_vector is not None else self.bank.embed_query(task)
        log_key = relabel_key(key, reward) if relabel and key is not None else key
        t = Transition.of_run(
            task, vector, shown_ids, used_ids, reward,
            namespace=namespace or self.namespace, key=log_key, shown_labels=shown_labels,
        )  # fmt: skip
        stored = self.share.log.append(t)
        return UpdateReport(logged=stored, duplicate=not stored, acting_version=self.version)
