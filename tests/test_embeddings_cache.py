"""The MiniLM embedder encodes a single text once while it is recent (a run embeds its task
several times: to select cases, to write its case, to record its Q transition)."""

from __future__ import annotations

from typing import Any

import numpy as np

from memento.memory import embeddings
from memento.memory.embeddings import MiniLMEmbeddings


class CountingModel:
    """Stands in for the sentence-transformers model: counts the texts it encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        self.encoded += texts
        return np.array([[float(len(t)), 1.0] for t in texts])


def test_single_texts_are_encoded_once_while_recent(monkeypatch: Any) -> None:
    monkeypatch.setattr(embeddings, "RECENT_TEXTS", 2)
    model = CountingModel()
    emb = MiniLMEmbeddings()
    emb._model = model
    first = emb.embed_query("a task")
    first.append(99.0)  # callers may change what they get: the cache keeps its own copy
    assert emb.embed_documents(["a task"]) == [emb.embed_query("a task")] == [[6.0, 1.0]]
    assert model.encoded == ["a task"]
    assert emb.embed_documents(["x", "a task"]) == [[1.0, 1.0], [6.0, 1.0]]  # batches: as is
    assert model.encoded == ["a task", "x", "a task"]
    emb.embed_query("b")
    emb.embed_query("c")  # pushes "a task" out (two recent texts kept here)
    emb.embed_query("a task")
    assert model.encoded[-1] == "a task" and len(model.encoded) == 6
    assert emb.embed_documents([]) == []
