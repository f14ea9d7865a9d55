"""The CaseBank with the real default embeddings (all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memento.memory.case_bank import CaseBank, EmbeddingModelMismatch
from memento.memory.embeddings import DEFAULT_EMBEDDING_MODEL
from memento.testing import HashEmbeddings

pytestmark = pytest.mark.slow
PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}


def test_minilm_bank_search_dedup_and_cached_vectors(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path)  # default embeddings, default threshold 0.97
    assert bank.embedding_model == DEFAULT_EMBEDDING_MODEL
    hamlet = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0)
    bank.add("What is the capital city of Peru?", PLAN, reward=0.0)
    bank.add("How tall is Mount Everest in metres?", PLAN, reward=1.0)
    near_copy = 'Who wrote the play "Hamlet"?'  # cosine 0.99 under MiniLM
    assert bank.add(near_copy, PLAN, reward=0.0) == hamlet
    assert bank.add("Who directed the film Hamlet (1948)?", PLAN, reward=1.0) != hamlet
    assert bank.count() == 4 and bank.dimension == 384

    hits = bank.search("Which author is Hamlet by?", k=2)
    assert hits[0].case.id == hamlet
    ids, vectors = bank.all_vectors()
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    with pytest.raises(EmbeddingModelMismatch, match="all-MiniLM-L6-v2"):
        CaseBank(path=tmp_path, embeddings=HashEmbeddings())
