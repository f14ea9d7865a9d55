"""CaseRetriever: a CaseSelector as a LangChain retriever; langchain-tests' standard suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from memento.memory.case_bank import CaseBank
from memento.memory.records import Plan
from memento.memory.retriever import CaseRetriever
from memento.memory.similarity import SimilaritySelector
from memento.testing import HashEmbeddings, make_case

TASKS = [
    "Who wrote the novel Dracula?",
    "Who wrote the novel Emma?",
    "Who painted the Mona Lisa?",
    "What is the capital of Peru?",
    "How tall is Mount Everest?",
]


def filled_bank(path: Path) -> CaseBank:
    bank = CaseBank(path=path, embeddings=HashEmbeddings(), dedup_threshold=None)
    labels = ["positive", "negative"]
    bank.add_cases([make_case(t, label=labels[i % 2]) for i, t in enumerate(TASKS)], dedup=False)
    return bank


class TestCaseRetrieverStandard(RetrieversIntegrationTests):
    """The standard retriever tests of the langchain-tests package."""

    @pytest.fixture(autouse=True)
    def _bank(self, tmp_path: Path) -> None:
        self.selector = SimilaritySelector(filled_bank(tmp_path))

    @property
    def retriever_constructor(self) -> type[CaseRetriever]:
        return CaseRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"selector": self.selector, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Who wrote the novel Dracula?"


def test_documents_carry_case_fields_and_score(tmp_path: Path) -> None:
    bank = filled_bank(tmp_path)
    docs = bank.as_retriever(k=3).invoke("Who wrote the novel Dracula?")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert top.page_content == "Who wrote the novel Dracula?"
    case = bank.get(str(top.id))
    assert case is not None
    assert top.metadata["id"] == case.id
    assert top.metadata["label"] == case.label
    assert Plan.parse(top.metadata["plan"]) == case.plan
    assert top.metadata["score"] == pytest.approx(1.0, abs=1e-5)
    assert [d.metadata["score"] for d in docs] == sorted(
        (d.metadata["score"] for d in docs), reverse=True
    )
    json.dumps([d.metadata for d in docs])  # flat, serialisable metadata


async def test_async_and_per_call_overrides(tmp_path: Path) -> None:
    retriever = CaseRetriever(selector=SimilaritySelector(filled_bank(tmp_path)), k=4)
    docs = await retriever.ainvoke("Who wrote the novel Emma?", k=2, negative=2, positive=0)
    assert len(docs) == 2
    assert all(d.metadata["label"] == "negative" for d in docs)
    none = retriever.invoke("Who wrote the novel Emma?", namespace="nobody")
    assert none == []
