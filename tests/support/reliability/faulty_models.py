"""Deterministic misbehaving chat models and tools for the fault tests.

`ScriptedChatModel` replies with a fixed list of messages (the last one repeats) and counts its
calls; `SlowChatModel` answers only after `delay_s` (an async sleep, so a deadline can cancel it
the way it cancels an HTTP request); `FailingChatModel` raises what a client raises on a read
timeout. Tools: one that raises TimeoutError, one that returns 1 MB, one that returns nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool

from memento.testing import ReplyChatModel

ONE_MB = 1 << 20


class ScriptedChatModel(ReplyChatModel):
    """Replies with `replies` in order; the last one repeats once the script runs out."""

    llm_type: ClassVar[str] = "scripted-fault"
    stand_in_note: str = "answered by a scripted fault-test model"
    replies: list[AIMessage]
    seen: list[list[BaseMessage]] = []
    """The messages of every call, in order."""

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        self.seen.append(list(messages))
        return self.replies[min(self.calls, len(self.replies)) - 1].model_copy(deep=True)


class FailingChatModel(ReplyChatModel):
    """Raises `TimeoutError` on every call, as an HTTP client does when a read times out."""

    llm_type: ClassVar[str] = "failing-fault"
    stand_in_note: str = "answered by a failing fault-test model"

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        raise TimeoutError("Request timed out after 30 s")


class SlowChatModel(ReplyChatModel):
    """Answers `content` after `delay_s` seconds of asynchronous waiting (a stuck server)."""

    llm_type: ClassVar[str] = "slow-fault"
    stand_in_note: str = "answered by a slow fault-test model"
    delay_s: float = 3600.0
    content: str = "late"

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        raise NotImplementedError("SlowChatModel is async only")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.content))])


def plan_reply(*steps: str) -> AIMessage:
    """A planner reply with a valid JSON plan."""
    plan = [{"id": i + 1, "description": s} for i, s in enumerate(steps)]
    return AIMessage(content=json.dumps({"plan": plan}))


def answer_reply(answer: str) -> AIMessage:
    """A planner reply with a final answer."""
    return AIMessage(content=json.dumps({"answer": answer}))


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """An executor reply that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def bad_json_call(name: str, raw_args: str, call_id: str = "call_1") -> AIMessage:
    """An executor reply whose tool-call arguments are not valid JSON."""
    return AIMessage(
        content="",
        invalid_tool_calls=[
            {"name": name, "args": raw_args, "id": call_id, "error": "arguments are not JSON"}
        ],
    )


def _timing_out(query: str) -> str:
    """Look something up (its backend always times out)."""
    raise TimeoutError("backend did not answer within 15 s")


def _huge(query: str) -> str:
    """Look something up (returns 1 MB of text)."""
    return "x" * ONE_MB


def _empty(query: str) -> str:
    """Look something up (returns nothing)."""
    return ""


def faulty_tool(kind: str) -> BaseTool:
    """A tool named `lookup` that times out, returns 1 MB or returns nothing."""
    fn = {"timeout": _timing_out, "huge": _huge, "empty": _empty}[kind]
    return StructuredTool.from_function(fn, name="lookup")
