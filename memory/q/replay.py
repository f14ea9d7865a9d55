"""The replay buffer of the online Q-function: one SQLite file next to the bank.

Each transition is what one finished run taught: the task text and its vector, the ids of the
cases shown to the planner, the ids the planner reports it used (None when it did not say) and
the reward. Case vectors are not copied: they are read from the bank when a batch is built, so a
case deleted from the bank simply drops out of training.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memento.memory.records import LABELS, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    namespace TEXT NOT NULL,
    task TEXT NOT NULL,
    task_vector BLOB NOT NULL,
    shown_ids TEXT NOT NULL,
    used_ids TEXT,
    reward REAL NOT NULL,
    key TEXT UNIQUE,
    shown_labels TEXT
)
"""
BUSY_TIMEOUT_S = 30.0
"""Seconds a writer waits for another process's write lock before giving up."""


@dataclass(frozen=True)
class Transition:
    """One (task, shown cases, used cases, reward) record."""

    task: str
    """The task text (state s)."""
    task_vector: np.ndarray
    """The task's unit embedding, float32 (d,)."""
    shown_ids: tuple[str, ...]
    """Ids of the cases shown to the planner, in display order."""
    used_ids: tuple[str, ...] | None
    """Ids the planner reports it used; None when it gave no report."""
    reward: float
    """Outcome in [0, 1]."""
    namespace: str = "default"
    """Case-bank namespace the cases came from."""
    created_at: str = ""
    """UTC ISO time the transition was recorded."""
    id: int | None = None
    """Row id in the buffer (None before it is stored)."""
    key: str | None = None
    """Idempotency key (e.g. the run's thread id): a key is stored at most once."""
    shown_labels: tuple[str, ...] | None = None
    """The shown cases' labels as they were shown (a case's label may change later); None in
    transitions stored before they were kept."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (vector as a list) for bundles and exports."""
        return {
            "task": self.task,
            "task_vector": [float(x) for x in self.task_vector],
            "shown_ids": list(self.shown_ids),
            "used_ids": None if self.used_ids is None else list(self.used_ids),
            "reward": self.reward,
            "namespace": self.namespace,
            "created_at": self.created_at,
            "key": self.key,
            "shown_labels": None if self.shown_labels is None else list(self.shown_labels),
        }

    @classmethod
    def of_run(
        cls,
        task: str,
        vector: np.ndarray | None,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str,
        key: str | None,
        shown_labels: Sequence[str] | None = None,
    ) -> Transition:
        """The transition of one finished run, as learners record it (no vector: empty).

        Raises:
            ValueError: reward outside [0, 1], no shown ids, or labels that are not one
                "positive" or "negative" per shown id.
        """
        check_run(reward, shown_ids)
        return cls(
            task=task,
            task_vector=np.asarray(vector if vector is not None else [], dtype=np.float32),
            shown_ids=tuple(shown_ids),
            used_ids=None if used_ids is None else tuple(used_ids),
            reward=float(reward),
            namespace=namespace,
            key=key,
            shown_labels=_check_labels(shown_labels, shown_ids),
        )

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Transition:
        """Inverse of `to_json`; raises ValueError/KeyError on malformed input."""
        used = raw.get("used_ids")
        shown = tuple(str(i) for i in raw["shown_ids"])
        labels = raw.get("shown_labels")
        return cls(
            task=str(raw["task"]),
            task_vector=np.asarray(raw["task_vector"], dtype=np.float32),
            shown_ids=shown,
            used_ids=None if used is None else tuple(str(i) for i in used),
            reward=_check_reward(float(raw["reward"])),
            namespace=str(raw.get("namespace", "default")),
            created_at=str(raw.get("created_at", "")),
            key=None if raw.get("key") is None else str(raw["key"]),
            shown_labels=_check_labels(None if labels is None else list(labels), shown),
        )


def check_run(reward: float, shown_ids: Sequence[str]) -> None:
    """Refuse what no learner can record: a reward outside [0, 1], or no shown cases."""
    _check_reward(reward)
    if not shown_ids:
        raise ValueError("record needs the ids of the cases shown for the task")


def _check_reward(reward: float) -> float:
    if not 0.0 <= reward <= 1.0:
        raise ValueError(f"reward must be in [0, 1], got {reward}")
    return reward


def _check_labels(labels: Sequence[str] | None, shown_ids: Sequence[str]) -> tuple[str, ...] | None:
    """`labels` as a tuple, checked: one "positive" or "negative" per shown id."""
    if labels is None:
        return None
    out = tuple(str(label) for label in labels)
    if len(out) != len(shown_ids) or not set(out) <= set(LABELS):
        raise ValueError(
            f"shown_labels must give 'positive' or 'negative' for each of the {len(shown_ids)} "
            f"shown ids, got {list(out)!r}"
        )
    return out


def _row(t: Transition) -> tuple[Any, ...]:
    """Validate a transition and turn it into an INSERT row."""
    _check_reward(t.reward)
    if not t.shown_ids:
        raise ValueError("a transition needs at least one shown case id")
    labels = _check_labels(t.shown_labels, t.shown_ids)
    vec = np.asarray(t.task_vector, dtype=np.float32).reshape(-1)
    return (
        t.created_at or utc_now(),
        t.namespace,
        t.task,
        vec.tobytes(),
        json.dumps(list(t.shown_ids)),
        None if t.used_ids is None else json.dumps(list(t.used_ids)),
        float(t.reward),
        t.key,
        None if labels is None else json.dumps(list(labels)),
    )


def _add_labels_column(db: sqlite3.Connection) -> None:
    """Give a buffer written before shown labels were kept their column (its rows: NULL)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(transitions)")}
    if "shown_labels" in columns:
        return
    try:
        db.execute("ALTER TABLE transitions ADD COLUMN shown_labels TEXT")
    except sqlite3.OperationalError as exc:  # another process added it first
        if "duplicate column" not in str(exc):
            raise


REPLAY_FILE = "replay.sqlite"
"""The replay buffer's file in a learner's folder (every Q form logs its runs there)."""


class ReplayBuffer:
    """Transitions in a SQLite file (or in memory with path=None); oldest dropped past capacity."""

    def __init__(self, path: Path | str | None, *, capacity: int | None = 100_000) -> None:
        """Open or create the buffer; `capacity` None keeps everything."""
        self.path = None if path is None else Path(path)
        self.capacity = capacity
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if self.path is None else str(self.path)
        self._lock = threading.Lock()  # one sqlite connection, used by one thread at a time
        # Several local processes may share one file (workers append, a trainer reads):
        # WAL lets readers run beside the one writer, and writers wait instead of failing.
        self._db = sqlite3.connect(target, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        with self._lock, self._db:
            self._db.execute(SCHEMA)
            _add_labels_column(self._db)

    def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()

    def add(self, t: Transition) -> int:
        """Store a transition (validated) and return its row id.

        A transition whose `key` is already stored is not added again; the stored row's id is
        returned (so a retried graph node does not train twice on one run).
        """
        return self.add_many([t])[0]

    def add_many(self, items: Sequence[Transition]) -> list[int]:
        """Store transitions in one SQLite transaction (all or nothing); their row ids."""
        rows = [_row(t) for t in items]
        ids: list[int] = []
        with self._lock, self._db:
            for t, row in zip(items, rows, strict=True):
                # ON CONFLICT: another process may store the same key between a check and
                # the insert; the key stays stored once either way.
                cur = self._db.execute(
                    "INSERT INTO transitions (created_at, namespace, task, task_vector, shown_ids,"
                    " used_ids, reward, key, shown_labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(key) DO NOTHING",
                    row,
                )
                if cur.rowcount == 1:
                    ids.append(int(cur.lastrowid or 0))
                    continue
                found = self._db.execute(
                    "SELECT id FROM transitions WHERE key = ?", (t.key,)
                ).fetchone()
                ids.append(int(found[0]))
            if self.capacity is not None and ids:
                self._db.execute(
                    "DELETE FROM transitions WHERE id <= ?", (max(ids) - self.capacity,)
                )
        return ids

    def insert_new(self, t: Transition) -> bool:
        """Store a transition (validated) unless its key is stored; True when this call added it.

        One INSERT ... ON CONFLICT, so of processes racing to store one key exactly one is told
        it was new, without a look-up first.
        """
        row = _row(t)
        with self._lock, self._db:
            cur = self._db.execute(
                "INSERT INTO transitions (created_at, namespace, task, task_vector, shown_ids,"
                " used_ids, reward, key, shown_labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO NOTHING",
                row,
            )
            added = cur.rowcount == 1
            if added and self.capacity is not None:
                self._db.execute(
                    "DELETE FROM transitions WHERE id <= ?",
                    (int(cur.lastrowid or 0) - self.capacity,),
                )
        return added

    def find_key(self, key: str) -> int | None:
        """Row id of the transition stored under `key`, or None."""
        with self._lock:
            row = self._db.execute("SELECT id FROM transitions WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_reward(self, row_id: int, reward: float) -> None:
        """Change the reward of one stored transition (delayed feedback corrects it)."""
        with self._lock, self._db:
            self._db.execute("UPDATE transitions SET reward = ? WHERE id = ?", (reward, row_id))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM transitions").fetchone()[0])

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Transition]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, namespace, task, task_vector, shown_ids, used_ids, reward,"
                " key, shown_labels FROM transitions " + sql,
                tuple(args),
            ).fetchall()
        return [
            Transition(
                id=int(r[0]),
                created_at=r[1],
                namespace=r[2],
                task=r[3],
                task_vector=np.frombuffer(r[4], dtype=np.float32).copy(),
                shown_ids=tuple(json.loads(r[5])),
                used_ids=None if r[6] is None else tuple(json.loads(r[6])),
                reward=float(r[7]),
                key=r[8],
                shown_labels=None if r[9] is None else tuple(json.loads(r[9])),
            )
            for r in rows
        ]

    def since(self, after_id: int, limit: int = 1000) -> list[Transition]:
        """Up to `limit` transitions with row id above `after_id`, oldest first.

        SQLite runs one write transaction at a time, so ids become visible in increasing
        order and a reader that remembers the last id it saw misses none.
        """
        return self._rows("WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))

    def all(self) -> list[Transition]:
        """Every stored transition, oldest first."""
        return self._rows("ORDER BY id")

    def recent(self, n: int, namespace: str | None = None) -> list[Transition]:
        """The n newest transitions (of a namespace), newest first."""
        if namespace is None:
            return self._rows("ORDER BY id DESC LIMIT ?", (n,))
        return self._rows("WHERE namespace = ? ORDER BY id DESC LIMIT ?", (namespace, n))

    def sample(self, n: int, rng: np.random.Generator) -> list[Transition]:
        """Up to n transitions drawn uniformly without replacement with `rng`."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM transitions ORDER BY id")]
        if len(ids) <= n:
            return self.all()
        picked = sorted(int(i) for i in rng.choice(np.array(ids), size=n, replace=False))
        marks = ",".join("?" * len(picked))
        return self._rows(f"WHERE id IN ({marks}) ORDER BY id", picked)

    def __iter__(self) -> Iterator[Transition]:
        return iter(self.all())

    def clear(self) -> None:
        """Remove every transition."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM transitions")
