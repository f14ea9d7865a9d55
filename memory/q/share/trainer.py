"""The trainer's side of a shared Q: `QTrainer`, the channel's only writer of the weights.

It feeds the logged transitions to the same `QLearner` a single process uses, exactly once per
key, and publishes whole versions (see `memento.memory.q.share`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memento.memory.q.config import LearnerConfig
from memento.memory.q.learner import QLearner
from memento.memory.q.network import QConfig
from memento.memory.q.share.lock import take_trainer_lock
from memento.memory.q.share.transitions import START, Cursor, split_relabel

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.share.worker import QShare


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
