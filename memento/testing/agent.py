"""A scripted tool-calling chat model for `create_agent` agents in tests, notebooks, benchmarks.

`ToolCallingModel` is not an LLM: given a human message it calls the first bound tool with the
message's text (saying why, as a model would), and given a tool's result it answers with it.
It keeps the system message of every call in `system_prompts`, so a test can see what the
model was shown (e.g. the cases `MementoMiddleware` adds), and it can be told to fail once.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from memento.graphs.stand_in import StandInChatModel


class ModelOutage(RuntimeError):
    """The failure `ToolCallingModel` raises when told to (an infrastructure fault)."""


class ToolCallingModel(StandInChatModel):
    """Calls the first bound tool with the task, then answers with the tool's result."""

    stand_in_note: str = "answered by a scripted tool-calling model (tests), not an LLM"
    system_prompts: list[str] = []
    """The system message text of each call, in order ('' when there was none)."""
    fail_on_call: int | None = None
    """Raise `ModelOutage` on this call (1-based), once; None: never."""
    calls: int = 0
    """Calls made (a failed one included)."""

    @property
    def _llm_type(self) -> str:
        return "test-tool-calling"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        if self.fail_on_call == self.calls:
            self.fail_on_call = None
            raise ModelOutage(f"model service unavailable (call {self.calls})")
        system = next((m.text for m in messages if isinstance(m, SystemMessage)), "")
        self.system_prompts.append(system)
        last = messages[-1] if messages else HumanMessage("")
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        if isinstance(last, ToolMessage) or not tools:
            answer = " ".join(last.text.split())[:200] or "no result"
            return _result(AIMessage(content=answer))
        fn = tools[0].get("function", {})
        props = fn.get("parameters", {}).get("properties", {})
        arg = next(iter(props), "query")
        call = {"name": fn["name"], "args": {arg: last.text}, "id": f"call_{self.calls}"}
        purpose = f"Look up what the task needs with {fn['name']}."
        return _result(AIMessage(content=purpose, tool_calls=[call]))


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])
