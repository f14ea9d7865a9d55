"""Q's own reading of a task: MiniLM fine-tuned on logged runs.

The upstream retriever fine-tunes its encoder and re-encodes every case for every query. Here
only the query side adapts: a task is read by a copy of the bundled all-MiniLM-L6-v2 trained with
the Q head (its six transformer layers and its embeddings, as the upstream classifier trains all
of MiniLM), mean-pooled and normalised like the bank's embedding. Cases keep their cached bank
vectors, so selection still costs one encoder pass per query and none per case.

A tuned encoder is stored beside the checkpoint (`q_encoder-<digest>.pt`) and named in
`QConfig.query_encoder` by that digest, so a checkpoint never loads with another encoder than the
one it was trained with, and online saves never rewrite it. The file holds the layers, the small
embedding tensors, and only the word-embedding rows training moved (the tokens of the training
tasks: embeddings train without weight decay, so no other row moves), not the 47 MB vocabulary.
An encoder stored before the embeddings trained (layers only) loads as it was.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memento.memory.embeddings import bundled_model_path

ENCODER_PATTERN = "q_encoder-{digest}.pt"
"""File of a tuned encoder beside the checkpoint, named by its digest (written once)."""
MAX_LENGTH = 64
"""Tokens read of a task (upstream reads queries at 64)."""
WORD_ROWS = "embeddings.word_rows"
WORD_VALUES = "embeddings.word_values"
"""Stored keys of the moved word-embedding rows: their token ids and their values."""
RECENT = 4096
"""Tasks whose tuned vectors are kept (a run reads its task at select and at record, and
online update steps re-read the replay's recent tasks)."""


class QueryEncoder:
    """The bundled MiniLM, tuned with Q: task texts -> unit vectors (n, 384)."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None) -> None:
        """The base model, or the base with `state` (what `state()` returned) loaded.

        Raises:
            ValueError: `state` names tensors this model does not have.
        """
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        path = bundled_model_path()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.model: Any = AutoModel.from_pretrained(path)
        self.model.eval()
        for param in self.model.pooler.parameters():  # not on the path: mean pooling
            param.requires_grad_(False)
        if state is not None:
            self._load(state)
        self.lock = threading.RLock()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def forget(self) -> None:
        """Drop the cached vectors (after the layers were trained)."""
        with self.lock:
            self._recent.clear()

    def trainable(self) -> list[torch.nn.Parameter]:
        """The transformer layers' parameters (trained with weight decay)."""
        return list(self.model.encoder.parameters())

    def embeddings(self) -> list[torch.nn.Parameter]:
        """The embeddings' parameters (trained without weight decay, so unseen rows stay put)."""
        return list(self.model.embeddings.parameters())

    def tuned(self) -> list[torch.nn.Module]:
        """The modules training changes (a soup averages these)."""
        return [self.model.embeddings, self.model.encoder]

    def state(self) -> dict[str, torch.Tensor]:
        """The tuned tensors (what `q_encoder.pt` stores): layers, embeddings, moved word rows.

        Embeddings as shipped are left out, so an encoder read from an older, layers-only file
        stores that file again (same digest).
        """
        out = {k: v.detach().clone() for k, v in self.model.encoder.state_dict().items()}
        shipped = _shipped_embeddings()
        current = {n: t for n, t in self.model.embeddings.state_dict().items() if n in shipped}
        if all(torch.equal(t, shipped[n]) for n, t in current.items()):
            return out
        for name, tensor in current.items():
            if name == "word_embeddings.weight":
                moved = (tensor != shipped[name]).any(dim=1).nonzero().flatten()
                out[WORD_ROWS] = moved
                out[WORD_VALUES] = tensor[moved].detach().clone()
            else:
                out[f"embeddings.{name}"] = tensor.detach().clone()
        return out

    def _load(self, state: dict[str, torch.Tensor]) -> None:
        """Load `state`: layers, and embeddings where stored (an older file holds layers only)."""
        layers = {k: v for k, v in state.items() if not k.startswith("embeddings.")}
        embedded = {
            k.removeprefix("embeddings."): v
            for k, v in state.items()
            if k.startswith("embeddings.") and k not in (WORD_ROWS, WORD_VALUES)
        }
        try:
            self.model.encoder.load_state_dict(layers)
            if embedded:
                missing, unexpected = self.model.embeddings.load_state_dict(embedded, strict=False)
                if unexpected or set(missing) - {"word_embeddings.weight", "position_ids"}:
                    raise RuntimeError(f"missing {missing}, unexpected {unexpected}")
            if WORD_ROWS in state:
                with torch.no_grad():
                    words = self.model.embeddings.word_embeddings.weight
                    words[state[WORD_ROWS]] = state[WORD_VALUES]
        except (RuntimeError, KeyError, IndexError) as exc:
            raise ValueError(f"not a tuned MiniLM query encoder's state: {exc}") from exc

    def digest(self) -> str:
        """sha256 (16 hex) over the tuned tensors: names the encoder in `QConfig.query_encoder`."""
        return state_digest(self.state())

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit vectors (n, d) with autograd (training); mean over tokens, like the bank's model."""
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        )
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"][:, :, None].to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        """Unit vectors (n, d) float32 in eval mode; texts read recently come from a cache."""
        with self.lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._recent]
            self.model.eval()
            for i in range(0, len(missing), batch):
                chunk = missing[i : i + batch]
                for text, vector in zip(chunk, self.forward(chunk).numpy(), strict=True):
                    self._recent[text] = vector.astype(np.float32)
            out = np.stack([self._recent[t] for t in texts]) if texts else np.zeros((0, 384))
            for text in texts:
                self._recent.move_to_end(text)
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        return out.astype(np.float32)


@lru_cache(maxsize=1)
def _shipped_embeddings() -> dict[str, torch.Tensor]:
    """The bundled MiniLM's trainable embedding tensors as shipped (what tuning moves away from)."""
    from safetensors import safe_open

    prefix = "embeddings."
    out: dict[str, torch.Tensor] = {}
    with safe_open(str(Path(bundled_model_path()) / "model.safetensors"), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
            if name.startswith(prefix) and name.endswith((".weight", ".bias")):
                out[name.removeprefix(prefix)] = f.get_tensor(name)
    return out


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 (16 hex) over named tensors, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def save_encoder(directory: Path, encoder: QueryEncoder, digest: str) -> Path:
    """Write the encoder named `digest` atomically unless its file is already there."""
    path = directory / ENCODER_PATTERN.format(digest=digest)
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(encoder.state(), tmp)
    tmp.replace(path)
    return path


@lru_cache(maxsize=4)
def load_encoder(directory: Path, digest: str) -> QueryEncoder:
    """The encoder named `digest` stored in `directory` (one shared copy per file: read-only).

    Raises:
        ValueError: the file is missing, unreadable, or holds other tensors (message names it).
    """
    path = directory / ENCODER_PATTERN.format(digest=digest)
    if not path.is_file():
        raise ValueError(f"the checkpoint's tuned query encoder is missing: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/garbled files
        raise ValueError(f"unreadable query encoder {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or state_digest(state) != digest:
        raise ValueError(f"{path} does not hold the query encoder {digest}")
    return QueryEncoder(state)
