"""langgraph.json names ChromaStore as the server's store: `langgraph dev` serves it (MiniLM)."""

from __future__ import annotations

import pytest

from tests.test_studio import dev_server

__all__ = ["dev_server"]  # the fixture that starts `langgraph dev` on 127.0.0.1


@pytest.mark.slow
@pytest.mark.integration
async def test_dev_server_store_is_chroma_store(dev_server: str) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=dev_server)
    await client.store.put_item(("memories", "u1"), "food", {"text": "I love pizza with friends"})
    await client.store.put_item(("memories", "u1"), "work", {"text": "the report is due friday"})
    got = await client.store.get_item(("memories", "u1"), "food")
    assert got["value"] == {"text": "I love pizza with friends"}
    found = await client.store.search_items(("memories",), query="what meals do they enjoy?")
    assert [item["key"] for item in found["items"]] == ["food", "work"]
    scores = [item["score"] for item in found["items"]]
    assert all(isinstance(s, float) for s in scores)  # ChromaStore's cosine, not the default's None
    assert scores[0] > scores[1]  # type: ignore[operator]
    listed = await client.store.list_namespaces(prefix=["memories"])
    assert listed["namespaces"] == [["memories", "u1"]]
