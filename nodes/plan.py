"""plan: the planner LLM writes a JSON plan or the final answer, with cases in view.

Malformed replies get `plan_retries` repair rounds (the parse error is fed back); after that the
run ends as a recorded task failure (reward 0, raw output kept): repair rounds count model
replies. A call that brings no reply at all (transport, HTTP status, unreadable response,
timeout) is no reply of the model: the node raises `ModelCallFailed` and the run stops at its
last checkpoint (an unreadable response is first retried by the node's RetryPolicy). Raw output
is kept (and fed back) up to `MAX_RAW_CHARS` (longer replies are cut, see
memento.infra.text_limits).
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.models import ModelNotConfiguredError, stand_in_note
from memento.graphs.planner_output import PlannerOutputError, parse_planner_output
from memento.graphs.prompts import (
    CASE_BLOCK,
    INSTRUCT_FINAL,
    INSTRUCT_FIRST,
    INSTRUCT_REPLAN,
    PLANNER_REPAIR,
    PLANNER_SYSTEM,
    PLANNER_USER,
    RESULT_BLOCK,
)
from memento.graphs.state import ShownCase, State
from memento.infra.model_calls import checked_call
from memento.infra.text_limits import MAX_TEXT_CHARS, cut

MAX_RAW_CHARS = MAX_TEXT_CHARS
"""Longest raw planner reply kept in state and fed back for repair; the rest is cut."""


def replies(n: int) -> str:
    """'reply' or 'replies', for the failure message."""
    return "reply" if n == 1 else "replies"


def render_cases(cases: list[ShownCase]) -> str:
    """Cases as XML blocks, or '(none)'."""
    blocks = [
        CASE_BLOCK.format(
            id=c["id"], task=c["task"], plan=json.dumps(c["plan"], ensure_ascii=False)
        )
        for c in cases
    ]
    return "\n".join(blocks) or "(none)"


def planner_prompt(state: State, ctx: Context) -> str:
    """The planner's user message for the current cycle."""
    cases = state.get("retrieved", [])
    results = state.get("subtask_results", [])
    cycle = state.get("cycle", 0)
    if cycle >= ctx.max_cycles:
        instructions = INSTRUCT_FINAL
    elif results:
        instructions = INSTRUCT_REPLAN.format(cycles_left=ctx.max_cycles - cycle)
    else:
        instructions = INSTRUCT_FIRST
    rendered = "\n".join(
        RESULT_BLOCK.format(
            id=r["id"], ok=r["ok"], description=r["description"], result=r["result"]
        )
        for r in results
    )
    return PLANNER_USER.format(
        task=state["task"],
        positive_cases=render_cases([c for c in cases if c["label"] == "positive"]),
        negative_cases=render_cases([c for c in cases if c["label"] != "positive"]),
        subtask_results=rendered or "(none yet)",
        instructions=instructions,
    )


async def plan(state: State, runtime: Runtime[Context], *, deps: Deps) -> dict[str, Any]:
    """Plan (or answer), repairing malformed replies a bounded number of times."""
    ctx = runtime.context or Context()
    model = deps.model("planner", ctx)
    must_answer = state.get("cycle", 0) >= ctx.max_cycles
    shown_ids = {c["id"] for c in state.get("retrieved", [])}
    messages: list[BaseMessage] = [
        SystemMessage(PLANNER_SYSTEM),
        HumanMessage(planner_prompt(state, ctx)),
    ]
    raws: list[str] = []
    error = ""
    try:
        stand_in = stand_in_note(model, deps.model("executor", ctx))
    except ModelNotConfiguredError:  # the executor's own error surfaces when it is needed
        stand_in = stand_in_note(model)
    note = {"model_note": stand_in} if stand_in else {}
    for _ in range(ctx.plan_retries + 1):
        reply = await checked_call(model.ainvoke(messages), ctx, role="planner", model=model)
        text = str(reply.text)
        raw = cut(text, MAX_RAW_CHARS)
        raws.append(raw)
        try:
            out = parse_planner_output(text)
            if must_answer and out.answer is None:
                raise PlannerOutputError("no planning cycles are left: reply with an answer")
        except PlannerOutputError as exc:
            error = str(exc)
            messages += [AIMessage(raw), HumanMessage(PLANNER_REPAIR.format(error=error))]
            continue
        used = [i for i in out.used_cases if i in shown_ids]
        base = {"planner_raw": raws, "used_case_ids": used, **note}
        if out.answer is not None:
            return {**base, "answer": out.answer.strip(), "status": "answered"}
        steps = [s.model_dump() for s in out.plan or []]
        return {**base, "plan": {"plan": steps}, "next_subtask": 0, "status": "executing"}
    return {
        "planner_raw": raws,
        "status": "failed",
        "answer": None,
        "failure": f"planner output unusable after {len(raws)} {replies(len(raws))}: {error}",
        **note,
    }
