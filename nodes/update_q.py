"""update_q: feed the reward for the cases that were shown into the Q-function's online update.

Cases the planner said it used get full credit, the other shown cases a smaller weight (the
learner's configuration). The transition is keyed by thread id, so a replayed node does not
train twice on it. Learners are not thread-safe (a torch optimizer's state is updated in place),
so concurrent tasks of one process (`memento eval --concurrency N`) record into one learner
one at a time (`Deps.learner_lock`); different learners do not wait for each other. Whether a
run trains at all is the context's `q_train` (`Deps.q_learner` gives a `NullLearner` if not).
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.state import State
from memento.infra.redact import redact
from memento.memory.learning import UpdateReport
from memento.nodes.write_memory import thread_case_id


async def update_q(
    state: State, runtime: Runtime[Context], config: RunnableConfig, *, deps: Deps
) -> dict[str, Any]:
    """Record the transition (task, shown cases, used cases, reward) and take an update step."""
    ctx = runtime.context or Context()
    reward = state.get("reward")
    retrieved = state.get("retrieved", [])
    shown = [c["id"] for c in retrieved]
    labels = [c["label"] for c in retrieved]  # as shown: writing this run may relabel a case
    if not ctx.learn or reward is None or not shown:
        reason = "learning off" if not ctx.learn else "no reward" if reward is None else "no cases"
        return {"q_update": UpdateReport(skipped=reason).as_dict()}
    learner = deps.q_learner(ctx)
    task = redact(state["task"])  # as the case bank stores it
    used = state.get("used_case_ids", [])
    key = thread_case_id(config, state, ctx.namespace)
    relabel = (state.get("judgement") or {}).get("method") == "feedback"

    def record() -> UpdateReport:
        with deps.learner_lock(learner):
            return learner.record(task, shown, used, float(reward), namespace=ctx.namespace,
                                  key=key, relabel=relabel, shown_labels=labels)  # fmt: skip

    report = await asyncio.to_thread(record)
    return {"q_update": report.as_dict()}
