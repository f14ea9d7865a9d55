"""The shared transition log: every worker appends, the one Q trainer reads what is new.

Two engines, one interface (`TransitionLog`):
- `SqliteTransitionLog`: the replay buffer's SQLite file in WAL mode, for processes on one
  machine. SQLite runs one write transaction at a time, so row ids become visible in order and
  the cursor is simply the last id read.
- `PgTransitionLog`: a PostgreSQL table, for workers on many machines. Ids from a sequence can
  commit out of order, so rows also carry the id of the transaction that wrote them (`xid8`);
  the reader only takes rows older than every transaction still running
  (`pg_snapshot_xmin`) and orders them by (xid, id). A row that commits late therefore still
  lands after the cursor and is never skipped.

Delivery is at-least-once and keyed: a key (the run's thread id) is stored once per channel, so a
retried worker or a re-run task adds nothing. A relabel (delayed feedback) is its own row, keyed
`<key>#relabel=<reward>`, which the trainer applies to the original transition.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memento.memory.q.replay import ReplayBuffer, Transition
from memento.memory.records import utc_now

Cursor = tuple[int, int]
"""Position in a log: (transaction id, row id) for Postgres, (0, row id) for SQLite."""
START: Cursor = (0, 0)
RELABEL_MARK = "#relabel="


def relabel_key(key: str, reward: float) -> str:
    """The log key of a relabel of `key` to `reward` (the same relabel is stored once)."""
    return f"{key}{RELABEL_MARK}{reward:.6f}"


def split_relabel(key: str | None) -> tuple[str | None, bool]:
    """(original key, whether the row is a relabel) of a log key."""
    if key is None or RELABEL_MARK not in key:
        return key, False
    return key.split(RELABEL_MARK, 1)[0], True


def keyed(t: Transition) -> Transition:
    """The transition with a key (a random one when it had none), so a retry stays unique."""
    return t if t.key is not None else replace(t, key=f"anon-{uuid.uuid4().hex}")


class TransitionLog(Protocol):
    """Append-only transitions shared by workers and read, in order, by the trainer."""

    def append(self, t: Transition) -> bool:
        """Store `t` unless its key is already stored; True when it was new."""

    def read_after(self, cursor: Cursor, limit: int = 500) -> tuple[list[Transition], Cursor]:
        """Up to `limit` transitions after `cursor`, oldest first, and the new cursor."""

    def count(self) -> int:
        """Transitions stored."""

    def close(self) -> None:
        """Release the connection."""


class SqliteTransitionLog:
    """The log in one SQLite file (WAL, busy timeout) shared by local processes."""

    def __init__(self, path: Path | str) -> None:
        """Open or create the file; nothing is ever dropped from it (capacity None)."""
        self.buffer = ReplayBuffer(path, capacity=None)

    def append(self, t: Transition) -> bool:
        """Store `t` unless its key is already there; True when it was new."""
        return self.buffer.insert_new(keyed(t))

    def read_after(self, cursor: Cursor, limit: int = 500) -> tuple[list[Transition], Cursor]:
        """Rows with id above the cursor's, oldest first."""
        rows = self.buffer.since(cursor[1], limit)
        return rows, (0, int(rows[-1].id or 0)) if rows else cursor

    def count(self) -> int:
        """Rows stored."""
        return len(self.buffer)

    def close(self) -> None:
        """Close the file."""
        self.buffer.close()


PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS memento_q_transitions (
    id BIGSERIAL PRIMARY KEY,
    xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
    channel TEXT NOT NULL,
    created_at TEXT NOT NULL,
    namespace TEXT NOT NULL,
    task TEXT NOT NULL,
    task_vector BYTEA NOT NULL,
    shown_ids TEXT NOT NULL,
    used_ids TEXT,
    reward REAL NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (channel, key)
);
CREATE INDEX IF NOT EXISTS memento_q_transitions_order
    ON memento_q_transitions (channel, xid, id);
ALTER TABLE memento_q_transitions ADD COLUMN IF NOT EXISTS shown_labels TEXT;
"""
_COLUMNS = (
    "id, created_at, namespace, task, task_vector, shown_ids, used_ids, reward, key, shown_labels"
)


def pg_setup(conn: Any, schema: str) -> None:
    """Create tables once, even when several processes start at the same moment."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('memento_q_schema'))")
        conn.execute(schema)


class PgTransitionLog:
    """The log in a PostgreSQL table; `channel` keeps separate runs apart in one database."""

    def __init__(self, dsn: str, *, channel: str = "default") -> None:
        """Connect (autocommit) and create the table if needed."""
        import psycopg

        self.channel = channel
        self._lock = threading.Lock()  # one psycopg connection: one statement at a time
        self._conn = psycopg.connect(dsn, autocommit=True)
        pg_setup(self._conn, PG_SCHEMA)

    def append(self, t: Transition) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING; True when the key was new."""
        t = keyed(t)
        vec = np.asarray(t.task_vector, dtype=np.float32).reshape(-1).tobytes()
        used = None if t.used_ids is None else json.dumps(list(t.used_ids))
        labels = None if t.shown_labels is None else json.dumps(list(t.shown_labels))
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO memento_q_transitions (channel, created_at, namespace, task,"
                " task_vector, shown_ids, used_ids, reward, key, shown_labels)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (channel, key) DO NOTHING",
                (
                    self.channel, t.created_at or utc_now(), t.namespace, t.task, vec,
                    json.dumps(list(t.shown_ids)), used, float(t.reward), t.key, labels,
                ),
            )  # fmt: skip
            return bool(cur.rowcount == 1)

    def read_after(self, cursor: Cursor, limit: int = 500) -> tuple[list[Transition], Cursor]:
        """Committed rows after the cursor in (xid, id) order, none of a running transaction."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT xid::text, {_COLUMNS} FROM memento_q_transitions"
                " WHERE channel = %s AND (xid, id) > (%s::text::xid8, %s)"
                " AND xid < pg_snapshot_xmin(pg_current_snapshot())"
                " ORDER BY xid, id LIMIT %s",
                (self.channel, str(cursor[0]), cursor[1], limit),
            ).fetchall()
        out = [
            Transition(
                id=int(r[1]), created_at=r[2], namespace=r[3], task=r[4],
                task_vector=np.frombuffer(bytes(r[5]), dtype=np.float32).copy(),
                shown_ids=tuple(json.loads(r[6])),
                used_ids=None if r[7] is None else tuple(json.loads(r[7])),
                reward=float(r[8]), key=r[9],
                shown_labels=None if r[10] is None else tuple(json.loads(r[10])),
            )
            for r in rows
        ]  # fmt: skip
        return out, (int(rows[-1][0]), int(rows[-1][1])) if rows else cursor

    def count(self) -> int:
        """Rows stored in this channel."""
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM memento_q_transitions WHERE channel = %s", (self.channel,)
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
