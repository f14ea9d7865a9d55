"""The Q trainer's lock: one trainer per share and channel, held for the trainer's life.

On Postgres a session advisory lock (released when the connection closes, also when the trainer
dies); on a folder an `flock` on `<folder>/<channel>/trainer.lock` (released by the kernel when
the process ends). A second trainer fails fast with `TrainerBusyError` instead of publishing
versions of its own next to the first one's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memento.infra.dsn import is_dsn


class TrainerBusyError(RuntimeError):
    """Another trainer holds the lock of this share's channel."""


def take_trainer_lock(spec: str, channel: str) -> Any:
    """A held lock object for the channel (kept open for the trainer's life)."""
    name = f"memento_q_trainer:{channel}"
    if is_dsn(spec):
        import psycopg

        conn = psycopg.connect(spec, autocommit=True)
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (name,)).fetchone()
        if not row or not row[0]:
            conn.close()
            raise TrainerBusyError(f"another trainer serves channel {channel!r}")
        return conn
    import fcntl

    path = Path(spec) / channel / "trainer.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise TrainerBusyError(f"another trainer holds {path}") from None
    return handle
