"""write_memory: store (task, final plan, reward) as a case, idempotently per thread id."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.state import State
from memento.infra.redact import redact
from memento.memory.records import label_for

DIRECT_ANSWER_PLAN = {"plan": [{"id": 1, "description": "Answer directly without subtasks."}]}


def thread_case_id(config: RunnableConfig, state: State, namespace: str) -> str:
    """The thread's case id (so a resumed or replayed thread never writes twice)."""
    thread = (config.get("configurable") or {}).get("thread_id")
    if thread:
        return f"run:{namespace}:{thread}"
    digest = hashlib.sha256(f"{namespace}\n{state['task']}".encode()).hexdigest()[:24]
    return f"run:{namespace}:task-{digest}"


async def write_memory(
    state: State, runtime: Runtime[Context], config: RunnableConfig, *, deps: Deps
) -> dict[str, Any]:
    """Write the case when learning is on and a reward is known."""
    ctx = runtime.context or Context()
    reward = state.get("reward")
    if not ctx.learn or reward is None:
        return {"case_id": None}
    plan = state.get("plan") or DIRECT_ANSWER_PLAN
    bank = deps.bank(ctx)
    label = label_for(float(reward))
    wanted = state.get("case_id") or thread_case_id(config, state, ctx.namespace)
    holder = await asyncio.to_thread(bank.resolve, wanted)
    if holder is not None:
        # Replayed node or delayed feedback: relabel the one case (or the near-twin it was
        # merged into), never add a second.
        await asyncio.to_thread(bank.update, holder, reward=float(reward), label=label)
        return {"case_id": holder}
    case_id = await asyncio.to_thread(
        bank.add,
        redact(state["task"]),  # a key pasted into a task is not kept in the bank
        json.loads(redact(json.dumps(plan))),
        reward=float(reward),
        label=label,
        source="memento-run",
        namespace=ctx.namespace,
        case_id=wanted,
    )
    return {"case_id": case_id}
