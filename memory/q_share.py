"""Q-function sharing: many workers act and log transitions, one trainer learns and publishes.

Roles:
- `QWorker` is the learner a worker's graph uses. `record` appends the transition to the shared
  log (it trains nothing); `selector()` first checks the published version (a sidecar read or one
  SQL query) and loads the weights only when a newer version exists. The graph asks for a
  selector when a task starts, so a worker switches weights between tasks, never inside one.
- `QTrainer` is the only writer of the weights. `poll()` reads the transitions logged since its
  cursor, learns from each exactly once (its `QLearner` skips keys it already has; it also does
  the bank's usage counters and the namespace budget, so those have one writer too), then
  publishes one new version whose meta records the cursor. `serve()` polls until stopped,
  holding the trainer lock (a Postgres advisory lock, or an flock on a local folder), so a second
  trainer on the same channel fails fast instead of forking the weights.

Consistency: transitions are delivered at least once and de-duplicated by key (the run's thread
id), so the trainer trains on each exactly once. Weights move in whole versions: a task runs on
the newest version published when it started (or a newer one, never an older one); a version
published during a task is used from that worker's next task. A trainer crash loses at most the
update steps since its last publication (it resumes from the published cursor), never a
transition.

`open_share(spec)`: a postgres:// DSN puts the log and the weights in Postgres; a folder puts
them in `<folder>/<channel>/` (transitions.sqlite, q.pt, q.json): a shared mount serves remote
workers, a local folder the processes of one machine.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memento.graphs.checkpointers import is_dsn
from memento.memory.q_checkpoint import CheckpointError, bank_model_hash
from memento.memory.q_function import QConfig
from memento.memory.q_learner import KeptSelectors, LearnerConfig, QLearner, fresh_network
from memento.memory.q_lock import TrainerBusyError, take_trainer_lock
from memento.memory.q_selector import QSelector
from memento.memory.q_transitions import (
    START,
    Cursor,
    PgTransitionLog,
    SqliteTransitionLog,
    TransitionLog,
    relabel_key,
    split_relabel,
)
from memento.memory.q_weights import DirWeights, Identity, PgWeights, WeightsStore
from memento.memory.replay import Transition, check_run

if TYPE_CHECKING:
    from collections.abc import Sequence

    from memento.memory.case_bank import CaseBank

__all__ = ["QShare", "QTrainer", "QWorker", "TrainerBusyError", "open_share", "take_trainer_lock"]

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
    """A worker's learner: logs transitions, acts on the newest published weights."""

    def __init__(
        self,
        bank: CaseBank,
        share: QShare,
        config: QConfig | None = None,
        *,
        namespace: str = "default",
    ) -> None:
        """Start from the newest published version, else the seeded initial network."""
        self.bank = bank
        self.share = share
        self.namespace = namespace
        self.network = fresh_network(bank, config)
        self.version = 0
        self.loads = 0
        self._lock = threading.Lock()
        self._selectors = KeptSelectors()
        self.refresh()

    def refresh(self) -> int:
        """Load the published weights when their version is newer; returns the version held.

        An unusable publication is logged and skipped (the current weights stay).
        """
        with self._lock:
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

    def selector(
        self, *, greedy: bool = True, temperature: float = 0.1, **kwargs: Any
    ) -> QSelector:
        """A selector over the newest published weights (checked now, at the task's start)."""
        self.refresh()
        return self._selectors.get(self.bank, self.network, greedy, temperature, **kwargs)

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
        protect: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Append the transition (or its relabel) to the shared log for the trainer.

        Raises:
            ValueError: reward outside [0, 1] or no shown ids (nothing is logged then).
        """
        check_run(reward, shown_ids)  # refuse before embedding anything
        vector = task_vector if task_vector is not None else self.bank.embed_query(task)
        log_key = relabel_key(key, reward) if relabel and key is not None else key
        t = Transition.of_run(
            task, vector, shown_ids, used_ids, reward,
            namespace=namespace or self.namespace, key=log_key,
        )  # fmt: skip
        stored = self.share.log.append(t)
        return {"shared": True, "logged": stored, "duplicate": not stored,
                "acting_version": self.version}  # fmt: skip


@dataclass(frozen=True)
class PollReport:
    """What one trainer poll did."""

    read: int
    """Log rows read."""
    learned: int
    """New transitions trained on."""
    duplicates: int
    """Rows whose key the trainer already had."""
    version: int | None
    """Version published by this poll (None when nothing was read)."""


class QTrainer:
    """The single trainer of a channel: learns from the log, publishes versions."""

    def __init__(
        self,
        bank: CaseBank,
        share: QShare,
        directory: Path | str,
        config: QConfig | None = None,
        learner: LearnerConfig | None = None,
        *,
        namespace: str = "default",
        publish_every_s: float = 1.0,
    ) -> None:
        """Resume from the newest published version and its cursor; `directory` keeps replay.

        `publish_every_s` spaces publications out (a version per poll would make every worker
        reload at nearly every task); `drain()` and `flush()` publish what is pending.
        """
        self.share = share
        self.learner = QLearner(bank, directory, config, learner, namespace=namespace)
        self.cursor: Cursor = START
        self.learned = 0
        self.publish_every_s = publish_every_s
        self._published_at = -math.inf
        self._pending = False
        published = share.weights.load()
        if published is not None:
            self.learner.adopt(published.network, published.meta.step)
            raw = published.meta.extra.get("cursor") or list(START)
            self.cursor = (int(raw[0]), int(raw[1]))
            self.learned = int(published.meta.extra.get("learned", 0))
        self._lock_handle: Any = None

    def poll(self, limit: int = 500) -> PollReport:
        """Learn from what was logged since the cursor and publish once if anything was read."""
        rows, cursor = self.share.log.read_after(self.cursor, limit)
        learned = duplicates = 0
        for row in rows:
            key, is_relabel = split_relabel(row.key)
            t = dataclasses.replace(row, key=key, id=None)
            report = self.learner.learn(t, relabel=is_relabel, save=False)
            if report.duplicate:
                duplicates += 1
            else:
                learned += 1
        if not rows:
            return PollReport(0, 0, 0, None)
        self.cursor = cursor
        self.learned += learned
        self._pending = True
        version = None
        if time.monotonic() - self._published_at >= self.publish_every_s:
            version = self.flush()
        return PollReport(len(rows), learned, duplicates, version)

    def flush(self) -> int | None:
        """Publish the live network with the cursor, if anything was learned since last time."""
        if not self._pending:
            return None
        version = self.share.weights.publish(
            self.learner.network,
            step=self.learner.step,
            extra={"cursor": list(self.cursor), "learned": self.learned},
        )
        self._published_at, self._pending = time.monotonic(), False
        return version

    def drain(self, limit: int = 500) -> list[PollReport]:
        """Poll until the log has nothing new, then publish what is pending."""
        reports = []
        while (report := self.poll(limit)).read:
            reports.append(report)
        if (version := self.flush()) is not None and reports:
            reports[-1] = dataclasses.replace(reports[-1], version=version)
        return reports

    def acquire(self) -> None:
        """Take the channel's trainer lock or raise TrainerBusyError."""
        self._lock_handle = take_trainer_lock(self.share.spec, self.share.channel)

    def close(self) -> None:
        """Release the trainer lock (its connection or file) and close the share."""
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None
        self.share.close()

    def serve(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Hold the trainer lock and poll every `interval` seconds until `stop` is set."""
        if self._lock_handle is None:
            self.acquire()
        while not stop.is_set():
            if not self.poll().read:
                self.flush()
                stop.wait(interval)
        self.drain()
