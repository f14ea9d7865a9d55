"""The bank's per-case usage counters, updated off the caller's path.

A run's "times shown / times helped" are bookkeeping for people (`memento cases show`, reports)
and for eviction, not for the kernel's selection, and one Chroma write costs tens of ms. So the
kernel learner hands them to one background thread per learner, in order; `flush` waits for
what was handed over, and a process that exits applies the rest first (the standard library's
thread pools are joined at interpreter exit).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

logger = logging.getLogger(__name__)


class CountingBank(Protocol):
    """What the counters need from the case bank."""

    def count_usage(self, shown: Sequence[str], helped: Collection[str]) -> list[str]:
        """Add a run to its shown cases' counters; the ids that are gone."""
        ...


class UsageCounts:
    """Adds runs to a bank's counters in one background thread, first come first applied."""

    def __init__(self, bank: CountingBank) -> None:
        """Count into `bank` (the thread starts with the first run)."""
        self.bank = bank
        self._pool: ThreadPoolExecutor | None = None
        self._last: Future[list[str]] | None = None

    def add(self, shown: Sequence[str], helped: Collection[str]) -> None:
        """Queue one run's counts and return at once (a failure is logged, never raised)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memento-counts")
        self._last = self._pool.submit(self.bank.count_usage, list(shown), set(helped))
        self._last.add_done_callback(_log_failure)

    def flush(self) -> None:
        """Wait until every queued run is counted."""
        if self._last is not None:
            self._last.exception()  # waits; the callback logged any failure

    def close(self) -> None:
        """Count what is queued, then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _log_failure(done: Future[list[str]]) -> None:
    if (exc := done.exception()) is not None:
        logger.warning("case usage counters not updated: %s", exc)
