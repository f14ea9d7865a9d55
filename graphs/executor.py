"""The executor subgraph: a tool-calling loop that carries out one subtask.

call_model -> (tools -> call_model)* -> finish. Every tool call of a model message gets exactly
one tool message, whatever was wrong with it (arguments that are not JSON, a schema error, an
unknown tool, a timeout): the error goes back to the model, which may try again within
`max_executor_steps`. A model that keeps calling tools past that limit or says nothing ends the
subtask with ok=False and an error text. A call that brings no reply (transport, HTTP status,
unreadable response, past `model_timeout_s`) raises `ModelCallFailed` out of the subgraph: an
outage is not a subtask result. Tools past `tool_timeout_s` answer with an error. A result
longer than `MAX_RESULT_CHARS` is cut (it goes into every later prompt). Usable alone (it is
served to Studio as `executor`).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.models import model_retry_policy
from memento.graphs.prompts import EXECUTOR_SYSTEM, EXECUTOR_USER
from memento.infra.model_calls import checked_call
from memento.infra.redact import redact
from memento.infra.text_limits import MAX_TEXT_CHARS, cut

MAX_RESULT_CHARS = MAX_TEXT_CHARS
"""Longest subtask result kept; the rest is cut with a note (results feed the planner prompt)."""


class ExecutorInput(TypedDict, total=False):
    """One subtask and what the executor should know around it."""

    subtask: str
    """The subtask to carry out."""
    task: str
    """The overall task, for context."""
    previous: str
    """Results of earlier subtasks, as text."""


class ExecutorState(ExecutorInput, total=False):
    """The loop's working state."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation with the executor model, tool messages included."""
    steps: int
    """Model calls made so far."""
    result: str
    """Final text of the subtask."""
    ok: bool
    """False when the subtask failed (step limit, model error)."""


class ExecutorOutput(TypedDict, total=False):
    """What a caller gets back."""

    result: str
    """Final text of the subtask."""
    ok: bool
    """False when the subtask failed."""
    messages: list[AnyMessage]
    """The full exchange, for inspection."""


async def call_model(
    state: ExecutorState, runtime: Runtime[Context], *, deps: Deps
) -> dict[str, Any]:
    """Ask the executor model for the next step (a tool call or the result)."""
    ctx = runtime.context or Context()
    steps = state.get("steps", 0)
    if steps >= ctx.max_executor_steps:
        return {"result": f"step limit reached ({ctx.max_executor_steps} model calls)", "ok": False}
    messages = list(state.get("messages", []))
    new: list[AnyMessage] = []
    if not messages:
        system = EXECUTOR_SYSTEM.format(
            task=state.get("task", ""), previous=state.get("previous", "") or "(none)"
        )
        new = [SystemMessage(system), HumanMessage(EXECUTOR_USER.format(subtask=state["subtask"]))]
    tools = deps.executor_tools(ctx)
    model = deps.model("executor", ctx)
    runnable = model.bind_tools(tools) if tools else model
    reply = await checked_call(runnable.ainvoke(messages + new), ctx, role="executor", model=model)
    update: dict[str, Any] = {"messages": [*new, reply], "steps": steps + 1}
    if isinstance(reply, AIMessage) and (reply.tool_calls or reply.invalid_tool_calls):
        return update
    text = reply.text.strip()
    update.update(result=cut(text, MAX_RESULT_CHARS) or "(empty result)", ok=bool(text))
    return update


def unreadable_call_answers(message: AnyMessage) -> list[ToolMessage]:
    """An error tool message for each call whose arguments could not be read (not JSON)."""
    invalid = message.invalid_tool_calls if isinstance(message, AIMessage) else []
    return [
        ToolMessage(
            redact(
                f"Error: the arguments of this {c.get('name') or 'tool'} call are not valid "
                f"JSON ({' '.join(str(c.get('error') or '').split())[:300]}); call it again "
                "with a JSON object of arguments."
            ),
            tool_call_id=c.get("id") or "",
            name=c.get("name") or "",
            status="error",
        )
        for c in invalid
    ]


def route_after_model(state: ExecutorState) -> Literal["tools", "__end__"]:
    """Run the requested tools, or stop once a result is set."""
    if "result" in state:
        return "__end__"
    return "tools"


async def run_tools(
    state: ExecutorState, runtime: Runtime[Context], *, deps: Deps
) -> dict[str, Any]:
    """Execute the tool calls of the last model message; tool errors go back as text."""
    ctx = runtime.context or Context()
    last = state["messages"][-1]
    unreadable = unreadable_call_answers(last)
    calls = last.tool_calls if isinstance(last, AIMessage) else []
    if not calls:
        return {"messages": unreadable}
    node = ToolNode(deps.executor_tools(ctx), handle_tool_errors=True)
    try:
        out: dict[str, Any] = await asyncio.wait_for(
            node.ainvoke({"messages": state["messages"]}), ctx.tool_timeout_s
        )
    except TimeoutError:
        error = f"Error: no answer within {ctx.tool_timeout_s:g} s; the call was abandoned"
        timed_out = [
            ToolMessage(error, tool_call_id=c["id"] or "", name=c["name"], status="error")
            for c in calls
        ]
        return {"messages": [*timed_out, *unreadable]}
    return {"messages": [*out["messages"], *unreadable]}


def build_executor(
    deps: Deps | None = None, *, checkpointer: Any = None
) -> CompiledStateGraph[ExecutorState, Context, ExecutorInput, ExecutorOutput]:
    """Compile the executor subgraph (checkpointer=False inside the parent's execute node)."""
    deps = deps or Deps()
    builder = StateGraph(
        ExecutorState,
        context_schema=Context,
        input_schema=ExecutorInput,
        output_schema=ExecutorOutput,
    )
    builder.add_node(
        "call_model", partial(call_model, deps=deps), retry_policy=model_retry_policy()
    )
    builder.add_node("tools", partial(run_tools, deps=deps))
    builder.add_edge(START, "call_model")
    builder.add_conditional_edges("call_model", route_after_model, ["tools", END])
    builder.add_edge("tools", "call_model")
    return builder.compile(checkpointer=checkpointer, name="executor")
