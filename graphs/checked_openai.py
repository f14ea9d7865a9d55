"""ChatOpenAI that refuses a reply it cannot use, so the node can retry it or stop the run.

OpenAI-compatible servers sometimes answer 200 with nothing usable: `choices: []`, a non-JSON
body, or a stream that ends without a single choice. Stock ChatOpenAI turns the first into a bare
`IndexError` and the last into an empty message that reads like a model that said nothing.
Here each is an `UnusableResponseError` (an infrastructure failure, never a task outcome).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI

from memento.infra.model_calls import UnusableResponseError


def _choices(response: Any) -> Any:
    if isinstance(response, dict):
        return response.get("choices")
    return getattr(response, "choices", None)


class _StreamCheck:
    """Remembers whether a stream delivered anything a reply is made of."""

    def __init__(self) -> None:
        self.seen = False

    def see(self, chunk: ChatGenerationChunk) -> None:
        info = chunk.generation_info or {}
        message = chunk.message
        parts = getattr(message, "tool_call_chunks", None)
        if info.get("finish_reason") or message.content or parts:
            self.seen = True

    def check(self) -> None:
        if not self.seen:
            raise UnusableResponseError("the stream ended without any choice")


class CheckedChatOpenAI(ChatOpenAI):
    """`ChatOpenAI` whose unusable replies raise `UnusableResponseError`."""

    def _create_chat_result(
        self,
        response: dict[str, Any] | openai.BaseModel,
        generation_info: dict[str, Any] | None = None,
    ) -> ChatResult:
        if not isinstance(response, dict | openai.BaseModel):
            raise UnusableResponseError(f"the reply is not JSON: {str(response)[:120]!r}")
        if not _choices(response) and not (isinstance(response, dict) and response.get("error")):
            raise UnusableResponseError("the reply holds no choices")
        return super()._create_chat_result(response, generation_info)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        check = _StreamCheck()
        for chunk in super()._stream(*args, **kwargs):
            check.see(chunk)
            yield chunk
        check.check()

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        check = _StreamCheck()
        async for chunk in super()._astream(*args, **kwargs):
            check.see(chunk)
            yield chunk
        check.check()
