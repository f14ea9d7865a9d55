"""Delayed feedback: set or correct the reward of a finished thread, after the fact.

The reward is written into the thread's checkpoint as if the judge had given it, and the graph
resumes from there: write_memory relabels the thread's case (never a second one) and update_q
trains the Q-function on the corrected transition.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from memento.graphs.context import Context
from memento.infra.threads import thread_finished


class FeedbackError(ValueError):
    """The thread cannot take feedback (unknown, unfinished, or a bad reward)."""


async def give_feedback(
    graph: CompiledStateGraph[Any, Context, Any, Any],
    thread_id: str,
    reward: float,
    *,
    context: Context | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Re-label a finished thread's case with `reward` in [0, 1] and train Q on it.

    Returns:
        The thread's final state after the feedback was applied.
    """
    if not 0.0 <= reward <= 1.0:
        raise FeedbackError(f"reward must be in [0, 1], got {reward}")
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    snapshot = await graph.aget_state(config)
    if not snapshot.values:
        raise FeedbackError(f"no thread {thread_id!r} in this checkpointer")
    if not thread_finished(snapshot):
        pending = [t.name for t in snapshot.tasks]
        raise FeedbackError(f"thread {thread_id!r} has not finished (next: {pending})")
    previous = snapshot.values.get("reward")
    judgement = {"method": "feedback", "previous_reward": previous, "note": note}
    await graph.aupdate_state(config, {"reward": reward, "judgement": judgement}, as_node="judge")
    result: dict[str, Any] = await graph.ainvoke(None, config, context=context or Context())
    return result
