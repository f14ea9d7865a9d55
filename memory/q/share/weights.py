"""Published Q weights: versioned, written whole or not at all, checked cheaply by version.

Two stores, one interface (`WeightsStore`):
- `DirWeights`: the checkpoint folder (`q.pt` + `q.json`, see `memento.memory.q.checkpoint`) on
  a path every worker can read (local disk, or a shared mount). Files are replaced atomically;
  `version()` reads only the small sidecar.
- `PgWeights`: a PostgreSQL table `memento_q_weights(channel, version, meta, weights bytea)`,
  one row per version inserted in one transaction, so a reader sees a version whole or not at
  all; `version()` is one indexed `max(version)` query. The last `keep` versions are kept.

Every publication records `state_sha256` (a digest of the tensors) in its meta; `load()` checks
it, so a worker never acts on weights that differ from the ones the trainer published.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from memento.memory.q.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    QCheckpoint,
    checkpoint_from_payload,
    checkpoint_payload,
    current_version,
    load_checkpoint,
    save_checkpoint,
    state_digest,
)
from memento.memory.q.network import QNetwork
from memento.memory.q.share.transitions import pg_setup
from memento.memory.records import utc_now

DIGEST_KEY = "state_sha256"


@dataclass(frozen=True)
class Identity:
    """What published weights must match: the embedding model (and its weights' hash)."""

    embedding_model: str
    fingerprint: str | None = None


class WeightsStore(Protocol):
    """Where the trainer publishes and workers read the Q network."""

    def version(self) -> int:
        """The newest published version, 0 when none (cheap: no weights are read)."""

    def publish(self, network: QNetwork, *, step: int, extra: dict[str, Any]) -> int:
        """Publish `network` as the next version; returns it."""

    def load(self) -> QCheckpoint | None:
        """The newest version, verified, or None when nothing was published."""

    def close(self) -> None:
        """Release connections (if any)."""


def _verified(ckpt: QCheckpoint, where: str) -> QCheckpoint:
    expected = ckpt.meta.extra.get(DIGEST_KEY)
    if expected is not None and state_digest(ckpt.network) != expected:
        raise CheckpointError(f"{where}: weights do not match their published digest")
    return ckpt


class DirWeights:
    """Versions as the checkpoint files of one folder."""

    def __init__(self, directory: Path | str, identity: Identity) -> None:
        """Use `directory` (created on first publish)."""
        self.dir = Path(directory)
        self.identity = identity

    def close(self) -> None:
        """Nothing to close: files are opened per call."""

    def version(self) -> int:
        """The sidecar's version."""
        return current_version(self.dir)

    def publish(self, network: QNetwork, *, step: int, extra: dict[str, Any]) -> int:
        """Write q.pt then q.json atomically."""
        meta = save_checkpoint(
            self.dir,
            network,
            embedding_model=self.identity.embedding_model,
            fingerprint=self.identity.fingerprint,
            step=step,
            extra={**extra, DIGEST_KEY: state_digest(network)},
        )
        return meta.version

    def load(self) -> QCheckpoint | None:
        """q.pt, validated against the identity and digest."""
        if not (self.dir / "q.pt").is_file():
            return None
        ckpt = load_checkpoint(
            self.dir,
            embedding_model=self.identity.embedding_model,
            fingerprint=self.identity.fingerprint,
        )
        return _verified(ckpt, str(self.dir / "q.pt"))


PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS memento_q_weights (
    channel TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    meta JSONB NOT NULL,
    weights BYTEA NOT NULL,
    PRIMARY KEY (channel, version)
);
"""


class PgWeights:
    """Versions as rows of a PostgreSQL table; `channel` keeps runs apart in one database."""

    def __init__(
        self, dsn: str, identity: Identity, *, channel: str = "default", keep: int = 5
    ) -> None:
        """Connect (autocommit) and create the table if needed."""
        import psycopg

        self.identity = identity
        self.channel = channel
        self.keep = max(1, keep)
        self._lock = threading.Lock()  # one psycopg connection: one statement at a time
        self._conn = psycopg.connect(dsn, autocommit=True)
        pg_setup(self._conn, PG_SCHEMA)

    def version(self) -> int:
        """max(version) of the channel (primary-key index only)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT coalesce(max(version), 0) FROM memento_q_weights WHERE channel = %s",
                (self.channel,),
            ).fetchone()
        return int(row[0]) if row else 0

    def publish(self, network: QNetwork, *, step: int, extra: dict[str, Any]) -> int:
        """Insert the next version and prune old ones, in one transaction."""
        with self._lock, self._conn.transaction():
            row = self._conn.execute(
                "SELECT coalesce(max(version), 0) FROM memento_q_weights WHERE channel = %s",
                (self.channel,),
            ).fetchone()
            version = (int(row[0]) if row else 0) + 1
            meta = CheckpointMeta(
                version=version,
                step=step,
                embedding_model=self.identity.embedding_model,
                embedding_fingerprint=self.identity.fingerprint,
                dim=network.config.dim,
                config=network.config.to_dict(),
                created_at=utc_now(),
                extra={**extra, DIGEST_KEY: state_digest(network)},
            )
            buffer = io.BytesIO()
            torch.save(checkpoint_payload(network, meta), buffer)
            # The primary key refuses a second writer of the same version.
            self._conn.execute(
                "INSERT INTO memento_q_weights (channel, version, created_at, meta, weights)"
                " VALUES (%s, %s, %s, %s::jsonb, %s)",
                (self.channel, version, meta.created_at, json.dumps(meta.to_dict()),
                 buffer.getvalue()),
            )  # fmt: skip
            self._conn.execute(
                "DELETE FROM memento_q_weights WHERE channel = %s AND version <= %s",
                (self.channel, version - self.keep),
            )
        return version

    def load(self) -> QCheckpoint | None:
        """The newest row, validated against the identity and digest."""
        with self._lock:
            row = self._conn.execute(
                "SELECT version, weights FROM memento_q_weights WHERE channel = %s"
                " ORDER BY version DESC LIMIT 1",
                (self.channel,),
            ).fetchone()
        if row is None:
            return None
        where = f"Q weights v{row[0]} of channel {self.channel!r} in Postgres"
        try:
            payload = torch.load(io.BytesIO(bytes(row[1])), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for garbled bytes
            raise CheckpointError(f"{where}: {type(exc).__name__}: {exc}") from exc
        ckpt = checkpoint_from_payload(
            payload,
            where,
            embedding_model=self.identity.embedding_model,
            fingerprint=self.identity.fingerprint,
        )
        return _verified(ckpt, where)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
