"""SimilaritySelector: top-K by cosine with optional positive/negative quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memento.memory.case_bank import CaseBank
from memento.memory.collection import query_matching
from memento.memory.selection import CaseSelector
from memento.memory.similarity import SimilaritySelector
from memento.testing import HashEmbeddings, make_case

TASKS = [
    ("Who wrote the novel Dracula?", "positive"),
    ("Who wrote the novel Emma?", "negative"),
    ("Who wrote the novel Ulysses?", "positive"),
    ("Who wrote the novel Beloved?", "negative"),
    ("Who wrote the novel Middlemarch?", "negative"),
    ("What is the boiling point of water?", "positive"),
]


@pytest.fixture
def selector(tmp_path: Path) -> SimilaritySelector:
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=None)
    bank.add_cases([make_case(t, label=lab) for t, lab in TASKS], dedup=False)
    bank.add_cases([make_case("Who wrote the novel Dracula?", namespace="other")], dedup=False)
    return SimilaritySelector(bank)


def test_satisfies_the_protocol(selector: SimilaritySelector) -> None:
    assert isinstance(selector, CaseSelector)
    assert selector.name == "similarity"


def test_top_k_by_cosine(selector: SimilaritySelector) -> None:
    picked = selector.select("Who wrote the novel Dracula?", k=3, namespace="default")
    assert len(picked) == 3
    assert picked[0].case.task == "Who wrote the novel Dracula?"
    assert [p.score for p in picked] == sorted((p.score for p in picked), reverse=True)
    assert all(p.case.namespace == "default" for p in picked)
    assert selector.select("anything", k=0) == []


def test_quotas_pick_each_label(selector: SimilaritySelector) -> None:
    picked = selector.select(
        "Who wrote the novel Dracula?", k=4, namespace="default", positive=1, negative=3
    )
    labels = [p.case.label for p in picked]
    assert labels.count("positive") == 1 and labels.count("negative") == 3
    assert picked[0].case.task == "Who wrote the novel Dracula?"
    assert [p.score for p in picked] == sorted((p.score for p in picked), reverse=True)


def test_one_quota_fills_the_rest_of_k(selector: SimilaritySelector) -> None:
    picked = selector.select("Who wrote the novel Emma?", k=4, namespace="default", positive=1)
    labels = [p.case.label for p in picked]
    assert labels.count("positive") == 1 and labels.count("negative") == 3


def test_quotas_are_maxima(selector: SimilaritySelector) -> None:
    picked = selector.select("novel", k=10, namespace="default", positive=10, negative=0)
    assert [p.case.label for p in picked] == ["positive"] * 3
    with pytest.raises(ValueError, match="negative quota"):
        selector.select("novel", k=2, negative=-1)


@pytest.mark.parametrize(
    ("namespace", "label"),
    [(None, None), ("big", None), ("small", None), (None, "negative"), ("small", "negative")],
)
def test_filtered_search_matches_brute_force(
    tmp_path: Path, namespace: str | None, label: str | None
) -> None:
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=None)
    words = ["river", "mountain", "novel", "painter", "capital", "king", "film", "war"]
    cases = [
        make_case(
            f"question about {words[i % 8]} {words[(i * 3) % 8]} {i}",
            label="negative" if i % 5 == 0 else "positive",
            namespace="small" if i % 40 == 0 else "big",
        )
        for i in range(120)
    ]
    bank.add_cases(cases, dedup=False)
    query = "question about river novel"
    hits = bank.search(query, k=3, namespace=namespace, label=label)  # type: ignore[arg-type]
    pool = [
        c
        for c in cases
        if (namespace is None or c.namespace == namespace) and (label is None or c.label == label)
    ]
    vectors = bank.vectors([c.id for c in pool])
    scores = vectors @ bank.embed_query(query)
    best = sorted(zip(scores.tolist(), [c.id for c in pool], strict=True), reverse=True)[:3]
    assert [round(h.score, 4) for h in hits] == [round(s, 4) for s, _ in best]
    ids, sl_scores, sl_vectors = bank.nearest_vectors(
        bank.embed_query(query),
        3,
        namespace=namespace,
        label=label,  # type: ignore[arg-type]
    )
    assert ids == [h.case.id for h in hits] and sl_vectors.shape == (len(ids), 64)


class CountingCollection:
    """A Chroma collection that counts the records whose metadata each call reads."""

    def __init__(self, col: Any) -> None:
        self.col = col
        self.metadata_rows = 0
        self.gets = 0

    def query(self, **kwargs: Any) -> Any:
        out = self.col.query(**kwargs)
        if "metadatas" in kwargs.get("include", ()):
            self.metadata_rows += sum(len(ids) for ids in out["ids"])
        return out

    def get(self, **kwargs: Any) -> Any:
        self.gets += 1
        out = self.col.get(**kwargs)
        if "metadatas" in kwargs.get("include", ()):
            self.metadata_rows += len(out["ids"])
        return out


def test_a_namespaced_shortlist_reads_the_metadata_of_its_own_hits_only(tmp_path: Path) -> None:
    """A one-namespace bank: the filter reads k records' metadata, not the 4k fetched hits'."""
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=None)
    bank.add_cases([make_case(f"question {i} about rivers") for i in range(300)], dedup=False)
    counting = CountingCollection(bank.collection)
    vector = bank.embed_query("question about rivers")
    (filtered,) = query_matching(counting, vector[None], 40, namespace="default")
    assert counting.metadata_rows == 40
    (plain,) = query_matching(bank.collection, vector[None], 40)
    assert [round(h[1], 5) for h in filtered] == [round(h[1], 5) for h in plain]  # same ranks
    assert all(h[2]["namespace"] == "default" for h in filtered) and plain[0][2] == {}
    (asked,) = query_matching(bank.collection, vector[None], 3, include=["metadatas"])
    assert asked[0][2]["namespace"] == "default"


def test_a_rare_namespace_is_found_in_few_reads(tmp_path: Path) -> None:
    """Windows double, so walking hundreds of other namespaces' hits takes a handful of reads."""
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=None)
    bank.add_cases([make_case(f"question {i} about rivers") for i in range(400)], dedup=False)
    rare = [make_case(f"other {i} on mountains", namespace="rare") for i in range(3)]
    bank.add_cases(rare, dedup=False)
    counting = CountingCollection(bank.collection)
    vector = bank.embed_query("question about rivers")
    (hits,) = query_matching(counting, vector[None], 2, namespace="rare")
    pool = bank.vectors([c.id for c in rare]) @ vector
    assert {h[0] for h in hits} <= {c.id for c in rare}
    assert [round(1.0 - h[1], 4) for h in hits] == [round(x, 4) for x in sorted(pool)[::-1][:2]]
    assert counting.gets <= 12
