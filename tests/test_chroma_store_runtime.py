"""ChromaStore in use: persistence, a graph's `runtime.store`, LangMem's tools, a Chroma server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import GetOp, IndexConfig, InvalidNamespaceError
from langmem import (  # type: ignore[import-untyped]  # ships no py.typed
    create_manage_memory_tool,
    create_search_memory_tool,
)

from memento.memory import ChromaStore
from memento.memory.collection import EmbeddingModelMismatch
from memento.memory.embeddings import MiniLMEmbeddings
from memento.memory.store import forget_clients, get_client
from memento.testing.fakes import HashEmbeddings

NS = ("memories", "u1")


def hash_index(dim: int = 64) -> IndexConfig:
    return IndexConfig(dims=dim, embed=HashEmbeddings(dim), fields=["text"])


def test_items_persist_and_keep_created_at(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path, index=hash_index())
    store.put(NS, "k", {"text": "likes green tea"})
    first = store.get(NS, "k")
    store.put(NS, "k", {"text": "likes black tea"})
    forget_clients()  # a new process: a fresh client reads the folder
    reopened = ChromaStore(path=tmp_path, index=hash_index())
    item = reopened.get(NS, "k")
    assert first is not None and item is not None
    assert item.value == {"text": "likes black tea"}
    assert item.created_at == first.created_at and item.updated_at > first.updated_at
    assert reopened.search(("memories",), query="black tea")[0].key == "k"


def test_deleted_namespace_is_not_listed_and_labels_are_checked(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path, index=hash_index())
    store.put(("a", "b"), "1", {"text": "x"})
    store.put(("a", "g"), "2", {"text": "y"})
    store.delete(("a", "g"), "2")
    assert store.list_namespaces() == [("a", "b")]  # InMemoryStore would still list ("a", "g")
    with pytest.raises(InvalidNamespaceError):  # ops passed straight to batch are checked too
        store.batch([GetOp(("a.b",), "k")])


def test_refuses_another_embedding_model(tmp_path: Path) -> None:
    ChromaStore(path=tmp_path, index=hash_index(64)).put(NS, "k", {"text": "x"})
    with pytest.raises(EmbeddingModelMismatch):
        ChromaStore(path=tmp_path, index=hash_index(16))
    other = ChromaStore(path=tmp_path, collection="second", index=hash_index(16))
    assert other.search(NS) == []
    get_client(path=tmp_path).create_collection("cases", embedding_function=None)
    with pytest.raises(ValueError, match="not a ChromaStore's"):  # e.g. the case bank's
        ChromaStore(path=tmp_path, collection="cases", index=hash_index())


class State(TypedDict):
    user: str
    note: str
    recalled: list[str]


def remember(state: State, runtime: Runtime[None]) -> dict[str, Any]:
    """A node that writes a memory and reads the user's memories back through runtime.store."""
    assert runtime.store is not None
    namespace = ("memories", state["user"])
    runtime.store.put(namespace, str(uuid.uuid4()), {"text": state["note"]})
    hits = runtime.store.search(namespace, query=state["note"], limit=5)
    return {"recalled": [h.value["text"] for h in hits]}


async def test_graph_uses_it_as_runtime_store(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path, index=hash_index())
    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    graph = builder.compile(store=store)
    out = graph.invoke({"user": "ann", "note": "ann prefers window seats", "recalled": []})
    assert out["recalled"] == ["ann prefers window seats"]
    out = await graph.ainvoke({"user": "ann", "note": "ann is vegetarian", "recalled": []})
    assert out["recalled"][0] == "ann is vegetarian" and len(out["recalled"]) == 2
    graph.invoke({"user": "bob", "note": "bob likes jazz", "recalled": []})
    assert store.list_namespaces(prefix=("memories",)) == [("memories", "ann"), ("memories", "bob")]


def test_langmem_tools_on_chroma_store(tmp_path: Path) -> None:
    store = ChromaStore(
        path=tmp_path, index=IndexConfig(dims=64, embed=HashEmbeddings(), fields=["content"])
    )
    manage = create_manage_memory_tool(namespace=NS, store=store)
    search = create_search_memory_tool(namespace=NS, store=store)
    made = manage.invoke({"content": "User prefers dark mode", "action": "create"})
    manage.invoke({"content": "User lives in Lisbon", "action": "create"})
    memory_id = made.rsplit(" ", 1)[1]
    found = json.loads(search.invoke({"query": "dark mode"}))
    assert found[0]["key"] == memory_id and found[0]["value"] == {
        "content": "User prefers dark mode"
    }
    assert found[0]["score"] > found[1]["score"]
    manage.invoke({"content": "User prefers light mode", "action": "update", "id": memory_id})
    item = store.get(NS, memory_id)
    assert item is not None and item.value == {"content": "User prefers light mode"}
    manage.invoke({"action": "delete", "id": memory_id})
    assert store.get(NS, memory_id) is None
    assert [m["value"]["content"] for m in json.loads(search.invoke({"query": "mode"}))] == [
        "User lives in Lisbon"
    ]


async def test_langmem_tools_through_a_graph_store(tmp_path: Path) -> None:
    """Without `store=`, LangMem's tools find the graph's store (and the user id) themselves."""
    store = ChromaStore(
        path=tmp_path, index=IndexConfig(dims=64, embed=HashEmbeddings(), fields=["content"])
    )
    manage = create_manage_memory_tool(namespace=("memories", "{langgraph_user_id}"))
    search = create_search_memory_tool(namespace=("memories", "{langgraph_user_id}"))

    async def node(state: State) -> dict[str, Any]:
        await manage.ainvoke({"content": state["note"]})
        found = json.loads(await search.ainvoke({"query": state["note"]}))
        return {"recalled": [m["value"]["content"] for m in found]}

    builder = StateGraph(State)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    graph = builder.compile(store=store)
    config: Any = {"configurable": {"langgraph_user_id": "zoe"}}
    out = await graph.ainvoke({"user": "zoe", "note": "zoe studies botany", "recalled": []}, config)
    assert out["recalled"] == ["zoe studies botany"]
    assert store.list_namespaces() == [("memories", "zoe")]


@pytest.mark.slow
def test_default_index_is_minilm(tmp_path: Path) -> None:
    store = ChromaStore(path=tmp_path)
    assert isinstance(store.embeddings, MiniLMEmbeddings)
    store.put(NS, "food", {"text": "I love eating pizza with friends"})
    store.put(NS, "work", {"text": "The quarterly report is due on Friday"})
    hits = store.search(NS, query="what meals do they enjoy?")
    assert [h.key for h in hits] == ["food", "work"]


@pytest.mark.integration
@pytest.mark.services
def test_server_backed_store(chroma_url: str) -> None:
    name = f"store_{uuid.uuid4().hex[:8]}"
    store = ChromaStore(url=chroma_url, collection=name, index=hash_index())
    store.put(NS, "a", {"text": "server side memory", "n": 2})
    store.put(("memories", "u2"), "b", {"text": "another user", "n": 5})
    assert store.search(("memories",), filter={"n": {"$gt": 3}})[0].key == "b"
    assert store.search(NS, query="server memory")[0].key == "a"
    again = ChromaStore(url=chroma_url, collection=name, index=hash_index())
    assert again.list_namespaces() == [NS, ("memories", "u2")]
    again.delete(NS, "a")
    assert store.get(NS, "a") is None
