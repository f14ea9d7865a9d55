"""ChromaStore beside InMemoryStore: list_namespaces and the async twins (langgraph's tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.store.base import PutOp

from tests.test_chroma_store import NS, MakeStore, keys, make_store

__all__ = ["make_store"]  # the side-by-side fixture, shared with tests/test_chroma_store.py


def fill(store: Any, namespaces: list[tuple[str, ...]]) -> None:
    for i, ns in enumerate(namespaces):
        store.put(ns, f"id_{i}", {"data": f"value_{i:02d}"})


def test_list_namespaces_basic(make_store: MakeStore) -> None:
    store = make_store()
    fill(
        store,
        [
            ("a", "b", "c"),
            ("a", "b", "d", "e"),
            ("a", "b", "d", "i"),
            ("a", "b", "f"),
            ("a", "c", "f"),
            ("b", "a", "f"),
            ("users", "123"),
            ("users", "456", "settings"),
            ("admin", "users", "789"),
        ],
    )
    abd = [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f")]
    assert store.list_namespaces(prefix=("a", "b")) == abd
    assert store.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert store.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    three = store.list_namespaces(prefix=("a", "b"), max_depth=3)
    assert three == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert store.list_namespaces(prefix=("a", "b"), limit=2) == abd[:2]
    assert store.list_namespaces(prefix=("a", "b"), offset=2) == abd[2:]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(suffix=("*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert store.list_namespaces(prefix=("nonexistent",)) == []
    assert store.list_namespaces(prefix=("users", "123")) == [("users", "123")]


def test_list_namespaces_with_wildcards(make_store: MakeStore) -> None:
    store = make_store()
    fill(
        store,
        [
            ("users", "123"),
            ("users", "456"),
            ("users", "789", "settings"),
            ("admin", "users", "789"),
            ("guests", "123"),
            ("guests", "456", "preferences"),
        ],
    )
    users = [("users", "123"), ("users", "456"), ("users", "789", "settings")]
    assert store.list_namespaces(prefix=("users", "*")) == users
    assert store.list_namespaces(suffix=("*", "preferences")) == [("guests", "456", "preferences")]
    assert store.list_namespaces(prefix=("*", "users"), suffix=("*", "settings")) == []
    store.put(("admin", "users", "settings", "789"), "foo", {"data": "some_val"})
    got = store.list_namespaces(prefix=("*", "users"), suffix=("settings", "*"))
    assert got == [("admin", "users", "settings", "789")]


def test_list_namespaces_pagination_depth_and_empty(make_store: MakeStore) -> None:
    store = make_store()
    assert store.list_namespaces() == []
    fill(store, [("namespace", f"sub_{i:02d}") for i in range(20)])
    for offset in (0, 5, 15):
        page = store.list_namespaces(prefix=("namespace",), limit=5, offset=offset)
        assert page == [("namespace", f"sub_{i:02d}") for i in range(offset, offset + 5)]
    deep = make_store()
    fill(
        deep,
        [
            ("a", "b", "c", "d"),
            ("a", "b", "c", "e"),
            ("a", "b", "f"),
            ("a", "g"),
            ("h", "i", "j", "k"),
        ],
    )
    assert deep.list_namespaces(max_depth=2) == [("a", "b"), ("a", "g"), ("h", "i")]
    assert deep.list_namespaces(prefix=("a", "b"), suffix=("c", "e")) == [("a", "b", "c", "e")]


async def test_async_twins(make_store: MakeStore) -> None:
    store = make_store()
    await store.aput(NS, "doc1", {"text": "red apple", "color": "red"})
    await store.aput(NS, "doc2", {"text": "blue car", "color": "blue"})
    await store.aput(("test", "sub"), "doc3", {"text": "green apple", "color": "green"})
    got = await store.aget(NS, "doc1")
    assert got is not None and got.value["color"] == "red"
    assert keys(await store.asearch(NS, query="apple", limit=2)) in (
        ["doc1", "doc3"],
        ["doc3", "doc1"],
    )
    assert keys(await store.asearch(NS, filter={"color": {"$ne": "red"}})) == ["doc2", "doc3"]
    assert await store.alist_namespaces(prefix=("test",)) == [NS, ("test", "sub")]
    await store.adelete(NS, "doc1")
    assert await store.aget(NS, "doc1") is None
    results = await store.abatch([PutOp(NS, "doc4", {"text": "x"})])
    assert results == [None]


async def test_async_concurrent_puts_deletes_and_searches(make_store: MakeStore) -> None:
    store = make_store()
    colors = ["red", "blue", "green", "yellow", "purple"]
    things = ["apple", "car", "house", "book", "phone"]
    docs = [
        (
            f"doc{i}",
            {"text": f"{colors[i % 5]} {things[i % 5]}", "color": colors[i % 5], "index": i},
        )
        for i in range(50)
    ]
    await asyncio.gather(*[store.aput(NS, k, v) for k, v in docs])
    await asyncio.gather(*[store.adelete(NS, k) for k, _ in docs])
    assert await store.asearch(NS) == []
    await asyncio.gather(*[store.aput(NS, k, v) for k, v in docs])
    queries: list[tuple[str, dict[str, Any]]] = [
        ("apple", {"color": "red"}),
        ("house", {"index": {"$gt": 25}}),
        ("phone", {"index": {"$lte": 10}}),
        ("car", {"index": {"$lt": 30}, "color": "blue"}),
    ]
    found = await asyncio.gather(*[store.asearch(NS, query=q, filter=f) for q, f in queries])
    for hits, (_, flt) in zip(found, queries, strict=True):
        assert hits, flt
        for hit in hits:
            if "color" in flt:
                assert hit.value["color"] == flt["color"]
            bound = flt.get("index", {})
            assert hit.value["index"] > bound.get("$gt", -1)
            assert hit.value["index"] <= bound.get("$lte", 99)
            assert hit.value["index"] < bound.get("$lt", 99)
    assert len(await store.asearch(NS, limit=100)) == 50
