"""The checkpoint serializer masks secrets in place and still loads what it wrote."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from memento.infra.redacting_serde import RedactingSerializer, mask_bytes, redact_checkpointer

KEY = "sk-test-SERDE-CANARY-0123456789"


def test_secret_values_are_masked_and_the_payload_still_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-Zq81-not-key-shaped")
    serde = RedactingSerializer(JsonPlusSerializer())
    value = {
        "task": f"use {KEY} and tok-Zq81-not-key-shaped",
        "messages": [AIMessage(content=f"the key is {KEY}")],
        "n": 3,
    }
    kind, data = serde.dumps_typed(value)
    assert KEY.encode() not in data and b"tok-Zq81-not-key-shaped" not in data
    back = serde.loads_typed((kind, data))
    assert back["n"] == 3
    assert back["task"] == f"use {'*' * len(KEY)} and {'*' * 23}"
    assert back["messages"][0].content == f"the key is {'*' * len(KEY)}"


def test_text_without_secrets_is_unchanged() -> None:
    data = b"\x92\xa5hello\xcd\x01\x00"
    assert mask_bytes(data) == data


def test_wrapping_is_idempotent() -> None:
    saver = InMemorySaver()
    redact_checkpointer(redact_checkpointer(saver))
    assert isinstance(saver.serde, RedactingSerializer)
    assert not isinstance(saver.serde.inner, RedactingSerializer)
