"""From an agent's messages to Memento's terms, and back: the task, the plan, the cases shown.

The task is (by default) the first human message; the trajectory becomes a plan in the upstream
shape, one step per tool call (with the model's words next to it as its purpose) and a last
step with the final answer. Secrets are masked before anything reaches the bank.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from memento.graphs.state import ShownCase
from memento.infra.redact import redact
from memento.infra.text_limits import cut
from memento.middleware.prompts import ANSWER_STEP, MEMORY_SECTION, TOOL_STEP
from memento.nodes.plan import render_cases

ARGS_CHARS = 300
"""Longest tool-argument text kept in a plan step."""
STEP_CHARS = 1000
"""Longest plan step kept (a long purpose or answer is cut)."""


def first_human_text(state: Mapping[str, Any]) -> str | None:
    """The default task: the text of the first human message (None when there is none)."""
    for message in state.get("messages", []):
        if isinstance(message, HumanMessage):
            return message.text.strip() or None
    return None


def trajectory_plan(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The agent's run as an upstream plan: each tool call and its purpose, then the answer."""
    steps: list[str] = []
    answer = ""
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        purpose = " ".join(message.text.split())
        for call in message.tool_calls:
            args = json.dumps(call.get("args", {}), ensure_ascii=False, sort_keys=True)
            step = TOOL_STEP.format(name=call["name"], args=cut(args, ARGS_CHARS))
            steps.append(f"{step}: {purpose}" if purpose else step)
        if not message.tool_calls:
            answer = purpose
    steps.append(ANSWER_STEP.format(answer=answer or "(no answer)"))
    plan = {"plan": [{"id": i, "description": cut(s, STEP_CHARS)} for i, s in enumerate(steps, 1)]}
    masked: dict[str, Any] = json.loads(redact(json.dumps(plan, ensure_ascii=False)))
    return masked


def memory_section(cases: Sequence[ShownCase]) -> str:
    """The cases as the planner sees them: positive ones to follow, negative ones to avoid."""
    return MEMORY_SECTION.format(
        positive_cases=render_cases([c for c in cases if c["label"] == "positive"]),
        negative_cases=render_cases([c for c in cases if c["label"] != "positive"]),
    )


def with_memory(system: SystemMessage | None, cases: Sequence[ShownCase]) -> SystemMessage:
    """`system` with the memory section appended (a new message; the agent's own is kept)."""
    section = memory_section(cases)
    if system is None:
        return SystemMessage(section)
    if isinstance(system.content, str):
        text = f"{system.content}\n\n{section}" if system.content else section
        return system.model_copy(update={"content": text})
    blocks = [*system.content, {"type": "text", "text": section}]
    return system.model_copy(update={"content": blocks})
