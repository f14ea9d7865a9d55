"""update_q: feed the reward for the cases that were shown into the Q-function's online update.

Cases the planner said it used get full credit, the other shown cases a smaller weight (the
learner's configuration). The transition is keyed by thread id, so a replayed node does not
train twice on it. Learners are not thread-safe (a torch optimizer's state is updated in place),
so concurrent tasks of one process (`memento eval --concurrency N`) record into one learner
one at a time; different learners (other namespaces or homes) do not wait for each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import weakref
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.state import State
from memento.nodes.write_memory import case_id_for
from memento.redact import redact

_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()
"""Guards `_LOCKS`."""
_SHARED = threading.Lock()
"""The lock of learners that cannot be weakly referenced."""


def _lock_of(learner: Any) -> threading.Lock:
    """The lock serialising `learner.record`: two concurrent updates corrupt optimizer state."""
    with _GUARD:
        try:
            return _LOCKS.setdefault(learner, threading.Lock())
        except TypeError:  # not weak-referenceable or unhashable: share one lock
            return _SHARED


def _record(learner: Any, *args: Any, **kwargs: Any) -> Any:
    with _lock_of(learner):
        return learner.record(*args, **kwargs)


async def update_q(
    state: State, runtime: Runtime[Context], config: RunnableConfig, *, deps: Deps
) -> dict[str, Any]:
    """Record the transition (task, shown cases, used cases, reward) and take an update step."""
    ctx = runtime.context or Context()
    reward = state.get("reward")
    shown = [c["id"] for c in state.get("retrieved", [])]
    if not ctx.learn or reward is None or not shown:
        reason = "learning off" if not ctx.learn else "no reward" if reward is None else "no cases"
        return {"q_update": {"skipped": reason}}
    learner = deps.q_learner(ctx)
    relabel = (state.get("judgement") or {}).get("method") == "feedback"
    report = await asyncio.to_thread(
        _record,
        learner,
        redact(state["task"]),  # as the case bank stores it
        shown,
        state.get("used_case_ids", []),
        float(reward),
        namespace=ctx.namespace,
        key=case_id_for(config, state, ctx.namespace),
        relabel=relabel,
    )
    summary = report if isinstance(report, dict) else dataclasses.asdict(report)
    return {"q_update": summary}
