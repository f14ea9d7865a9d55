"""ChromaStore beside InMemoryStore: the behaviours langgraph tests its in-memory store for.

Every test runs on both stores (deterministic hash embeddings) and asserts the same results,
ported from langgraph's libs/checkpoint/tests/test_store.py: put/get/delete, namespace rules,
search by prefix, each filter operator, semantic ordering, field paths, list_namespaces, batch
ordering, and the async twins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from memento.memory import ChromaStore
from memento.testing.fakes import HashEmbeddings

MakeStore = Callable[..., BaseStore]
NS = ("test",)


class CharEmbeddings(Embeddings):
    """Counts of each character hashed into 64 buckets: tells apart texts in any script."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts."""
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text (unit length)."""
        vector = [0.0] * 64
        for char in text:
            vector[ord(char) % 64] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]


@pytest.fixture(params=["memory", "chroma"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """A factory of fresh stores of one kind: `make_store(fields=..., embed=...)`."""
    made = 0

    def make(fields: list[str] | None = None, embed: Any = None) -> BaseStore:
        nonlocal made
        made += 1
        index = IndexConfig(dims=64, embed=embed or HashEmbeddings(), fields=fields or ["text"])
        if request.param == "memory":
            return InMemoryStore(index=index)
        return ChromaStore(path=tmp_path / f"store{made}", index=index)

    return make


def keys(items: list[Any]) -> list[str]:
    return [it.key for it in items]


def test_put_get_update_delete(make_store: MakeStore) -> None:
    store = make_store()
    assert store.get(NS, "a") is None
    store.put(NS, "a", {"text": "first", "n": 1, "nested": {"x": [1, "y"]}})
    item = store.get(NS, "a")
    assert item is not None
    assert (item.namespace, item.key) == (NS, "a")
    assert item.value == {"text": "first", "n": 1, "nested": {"x": [1, "y"]}}
    assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    store.put(NS, "a", {"text": "second"})
    again = store.get(NS, "a")
    assert again is not None and again.value == {"text": "second"}
    assert again.updated_at >= item.updated_at
    assert store.get(("other",), "a") is None
    store.delete(NS, "a")
    assert store.get(NS, "a") is None
    assert store.search(NS) == []
    store.delete(NS, "never-there")  # deleting a missing key is a no-op


def test_namespace_rules(make_store: MakeStore) -> None:
    store = make_store()
    doc = {"foo": "bar"}
    for bad in [(), ("the", "thing.about"), ("some", "fun", ""), ("langgraph", "foo")]:
        with pytest.raises(InvalidNamespaceError):
            store.put(bad, "foo", doc)
    store.put(("foo", "langgraph", "foo"), "bar", doc)
    assert store.search(("foo", "langgraph", "foo"))[0].value == doc
    store.batch([PutOp(("langgraph", "foo"), "bar", doc)])  # past the public API: allowed
    got = store.get(("langgraph", "foo"), "bar")
    assert got is not None and got.value == doc


def test_ttl_is_refused(make_store: MakeStore) -> None:
    store = make_store()
    assert store.supports_ttl is False
    with pytest.raises(NotImplementedError):
        store.put(NS, "k", {"text": "x"}, ttl=5)


def test_search_by_prefix_keeps_insertion_order(make_store: MakeStore) -> None:
    store = make_store()
    store.put(("docs", "a"), "1", {"text": "one"})
    store.put(("docs", "a"), "2", {"text": "two"})
    store.put(("docs", "b"), "3", {"text": "three"})
    store.put(("other",), "4", {"text": "four"})
    store.put(("docs", "a"), "1", {"text": "one again"})  # an update keeps its place
    assert keys(store.search(("docs",))) == ["1", "2", "3"]
    assert keys(store.search(("docs", "a"))) == ["1", "2"]
    assert keys(store.search(())) == ["1", "2", "3", "4"]
    assert keys(store.search(("docs",), limit=2)) == ["1", "2"]
    assert keys(store.search(("docs",), limit=2, offset=2)) == ["3"]
    assert store.search(("doc",)) == []  # labels match whole, not as string prefixes
    assert all(it.score is None for it in store.search(("docs",)))


DOCS = [
    ("doc1", {"text": "red apple", "color": "red", "score": 4.5, "tags": ["a"], "m": {"k": 1}}),
    ("doc2", {"text": "red car", "color": "red", "score": 3, "tags": ["a", "b"], "m": {"k": 2}}),
    ("doc3", {"text": "green apple", "color": "green", "score": 4.0, "flag": True}),
    ("doc4", {"text": "blue car", "color": "blue", "score": 3.5, "flag": False}),
]
FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({"color": "red"}, ["doc1", "doc2"]),
    ({"color": {"$eq": "green"}}, ["doc3"]),
    ({"color": {"$ne": "red"}}, ["doc3", "doc4"]),
    ({"score": {"$gt": 3.5}}, ["doc1", "doc3"]),
    ({"score": {"$gte": 3.5}}, ["doc1", "doc3", "doc4"]),
    ({"score": {"$lt": 3.5}}, ["doc2"]),
    ({"score": {"$lte": 4}}, ["doc2", "doc3", "doc4"]),
    ({"score": {"$gt": 3, "$lt": 4.5}}, ["doc3", "doc4"]),
    ({"score": 3.0}, ["doc2"]),
    ({"score": {"$eq": 4}}, ["doc3"]),
    ({"flag": True}, ["doc3"]),
    ({"flag": {"$ne": True}}, ["doc1", "doc2", "doc4"]),
    ({"tags": ["a", "b"]}, ["doc2"]),
    ({"m": {"k": 1}}, ["doc1"]),
    ({"color": "red", "score": {"$gte": 4}}, ["doc1"]),
    ({"missing": "x"}, []),
]


@pytest.mark.parametrize(("flt", "expected"), FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_filters(make_store: MakeStore, flt: dict[str, Any], expected: list[str]) -> None:
    store = make_store()
    for key, value in DOCS:
        store.put(NS, key, value)
    assert keys(store.search(NS, filter=flt)) == expected
    ranked = store.search(NS, query="apple", filter=flt)
    assert sorted(keys(ranked)) == expected


def test_vector_search_with_filters(make_store: MakeStore) -> None:
    store = make_store()
    for key, value in DOCS:
        store.put(NS, key, value)
    assert keys(store.search(NS, query="apple", filter={"color": "red"})) == ["doc1", "doc2"]
    assert keys(store.search(NS, query="car", filter={"color": "red"})) == ["doc2", "doc1"]
    both = store.search(NS, query="apple", filter={"score": {"$gte": 4.0}, "color": "green"})
    assert keys(both) == ["doc3"]


def test_semantic_ordering_and_scores(make_store: MakeStore) -> None:
    store = make_store()
    texts = ["the cat sat on the mat", "dogs chase cats", "stock markets fell", "a cat"]
    for i, text in enumerate(texts):
        store.put(NS, f"d{i}", {"text": text})
    hits = store.search(NS, query="the cat sat on a mat")
    assert keys(hits)[0] == "d0"
    scores = [h.score for h in hits]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    exact = store.search(NS, query="stock markets fell", limit=1)[0]
    assert exact.key == "d2" and exact.score == pytest.approx(1.0, abs=1e-5)


def test_update_re_embeds_and_index_false(make_store: MakeStore) -> None:
    store = make_store()
    store.put(NS, "doc1", {"text": "zany zebra xerxes"})
    store.put(NS, "doc2", {"text": "something about dogs"})
    store.put(NS, "doc3", {"text": "text about birds"})
    first = store.search(NS, query="zany xerxes")[0]
    assert first.key == "doc1" and first.score is not None
    store.put(NS, "doc1", {"text": "new text about dogs"})
    after = next(h for h in store.search(NS, query="zany xerxes") if h.key == "doc1")
    assert after.score is not None and after.score < first.score
    store.put(NS, "doc4", {"text": "new text about dogs"}, index=False)
    assert "doc4" not in keys(store.search(NS, query="new text about dogs", limit=3))
    filled = store.search(NS, query="new text about dogs", limit=4)
    assert keys(filled)[-1] == "doc4" and filled[-1].score is None  # unindexed items come last


def test_vector_search_pagination_and_edge_cases(make_store: MakeStore) -> None:
    store = make_store()
    for i in range(5):
        store.put(NS, f"doc{i}", {"text": f"test document number {i}"})
    page1 = store.search(NS, query="test", limit=2)
    page2 = store.search(NS, query="test", limit=2, offset=2)
    assert len(page1) == len(page2) == 2 and not set(keys(page1)) & set(keys(page2))
    assert len(store.search(NS, query="test", limit=10)) == 5
    for query in ["", None, "test " * 100, "test!@#$%^&*()"]:
        assert len(store.search(NS, query=query)) == 5


def test_embed_with_paths(make_store: MakeStore) -> None:
    store = make_store(fields=["key0", "key1", "key3"])
    store.put(NS, "doc1", {"key1": "xxx", "key2": "yyy", "key3": "zzz"})
    store.put(NS, "doc2", {"key0": "uuu", "key1": "vvv", "key2": "www", "key3": "xxx"})
    hits = store.search(NS, query="xxx")
    assert len(hits) == 2 and hits[0].score == pytest.approx(hits[1].score, abs=1e-5)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)  # max-pooled over the item's fields
    top = store.search(NS, query="uuu")
    assert keys(top)[0] == "doc2" and top[0].score > top[1].score  # type: ignore[operator]
    assert all(h.score < 0.99 for h in store.search(NS, query="www"))  # type: ignore[operator]

    per_op = make_store(fields=["key17"])
    per_op.put(NS, "doc3", {"key0": "aaa", "key1": "bbb", "key3": "ddd"}, index=["key0", "key1"])
    per_op.put(NS, "doc4", {"key0": "eee", "key1": "bbb", "key3": "ggg"}, index=["key1", "key3"])
    assert keys(per_op.search(NS, query="aaa"))[0] == "doc3"
    assert keys(per_op.search(NS, query="ggg"))[0] == "doc4"
    tie = per_op.search(NS, query="bbb")
    assert tie[0].score == pytest.approx(tie[1].score, abs=1e-5)
    per_op.put(NS, "doc5", {"key0": "hhh"}, index=False)
    doc5 = next(h for h in per_op.search(NS, query="hhh") if h.key == "doc5")
    assert doc5.score is None


def test_list_items_with_star_paths(make_store: MakeStore) -> None:
    store = make_store(fields=["messages[*].content"])
    value = {"messages": [{"content": "alpha beta"}, {"content": "gamma delta"}]}
    store.put(NS, "chat", value)
    store.put(NS, "other", {"messages": [{"content": "epsilon"}]})
    for query in ["alpha beta", "gamma delta"]:
        hit = store.search(NS, query=query, limit=1)[0]
        assert hit.key == "chat" and hit.score == pytest.approx(1.0, abs=1e-5)


def test_non_ascii(make_store: MakeStore) -> None:
    store = make_store(embed=CharEmbeddings())
    texts = ["这是中文", "これは日本語です", "이건 한국어야", "Это русский", "यह रूसी है"]
    for i, text in enumerate(texts, 1):
        store.put(("user_123", "memories"), str(i), {"text": text})
    for i, text in enumerate(texts, 1):
        assert store.search(("user_123", "memories"), query=text)[0].key == str(i)
    assert store.get(("user_123", "memories"), "1").value == {"text": "这是中文"}  # type: ignore[union-attr]


def test_batch_results_in_op_order(make_store: MakeStore) -> None:
    store = make_store()
    store.put(NS, "old", {"text": "already here"})
    results = store.batch(
        [
            PutOp(NS, "new", {"text": "first"}),
            GetOp(NS, "old"),
            GetOp(NS, "new"),  # puts land after the batch's reads, as in memory
            SearchOp(NS),
            ListNamespacesOp(),
            PutOp(NS, "new", {"text": "last wins"}),
        ]
    )
    assert results[0] is None and results[5] is None
    assert results[1].value == {"text": "already here"}  # type: ignore[union-attr]
    assert results[2] is None
    assert keys(results[3]) == ["old"]  # type: ignore[arg-type]
    assert results[4] == [NS]
    assert store.get(NS, "new").value == {"text": "last wins"}  # type: ignore[union-attr]
    store.batch([PutOp(NS, "old", None), PutOp(NS, "x", {"text": "x"})])
    assert keys(store.search(NS)) == ["new", "x"]
