"""`MementoMiddleware`: Memento's case memory in any `langchain.agents.create_agent` agent.

Before the agent's first model call it selects cases for the task through the graph's own
selection policies (similarity, Q greedy, Q softmax) and shows them in the model's system
message as the planner sees them; after the agent ends it writes the run as a case (keyed by
thread id) and records the Q transition through the graph's learner. A model call that raises
ends the agent before `after_agent`, so an infrastructure failure writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain.agents.middleware.types import (
    AgentMiddleware,
    ModelRequest,
    ModelResponse,
)
from langgraph.config import get_config
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.feedback import FeedbackError
from memento.graphs.state import ShownCase
from memento.infra.redact import redact
from memento.memory.learning import Learner
from memento.memory.selection import CaseSelector
from memento.middleware.runs import AgentRun, case_key, load_run, save_run, settle
from memento.middleware.state import MementoState
from memento.middleware.trajectory import first_human_text, trajectory_plan, with_memory
from memento.nodes.retrieve_cases import shown
from memento.tools.case_search import build_case_search

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

MiddlewareSelection = Literal["none", "similarity", "q", "q_softmax"]
TaskFn = Callable[[Mapping[str, Any]], str | None]
RewardFn = Callable[[Mapping[str, Any]], float | None]


class MementoMiddleware(AgentMiddleware[MementoState, Any, Any]):
    """Shows an agent the cases of similar past tasks, and learns from how its runs turn out.

    Example:
        ```python
        from langchain.agents import create_agent
        from memento import MementoMiddleware

        memory = MementoMiddleware(reward=lambda state: 1.0 if state["messages"] else 0.0)
        agent = create_agent("openai:gpt-4.1-mini", tools, middleware=[memory])
        agent.invoke({"messages": [("user", "Who wrote Dune?")]})
        ```
    """

    state_schema = MementoState
    """Adds the task, the cases shown and the case written to the agent's state."""

    def __init__(
        self,
        *,
        case_bank: CaseBank | None = None,
        selection: MiddlewareSelection = "similarity",
        k: int = 4,
        reward: RewardFn | None = None,
        positive: int | None = None,
        negative: int | None = None,
        namespace: str = "default",
        task: TaskFn = first_human_text,
        learner: Learner | None = None,
        learn: bool = True,
        home: Path | str | None = None,
        temperature: float = 1.0,
        case_search: bool = False,
    ) -> None:
        """Configure the memory; nothing is opened until the first run needs it.

        Args:
            case_bank: the bank to read and write (default: the one the settings name).
            selection: 'similarity', 'q' (greedy on the learned Q), 'q_softmax', or 'none'
                (show nothing; runs are still written while `learn` is on).
            k: most cases shown.
            reward: the agent's final state -> reward in [0, 1], or None to leave the run
                pending until `give_feedback`. No callable: every run is pending.
            positive: at most this many positive cases (None: any).
            negative: at most this many negative cases (None: any).
            namespace: bank namespace cases are read from and written to.
            task: the agent's state -> its task (default: the first human message's text).
            learner: the Q learner (default: the one the graph uses for this store).
            learn: write each run as a case and record its Q transition.
            home: store folder of the default bank and Q files (default: MEMENTO_HOME).
            temperature: softmax temperature of 'q_softmax'.
            case_search: also give the agent the `case_search` tool over the same bank and
                policy, to look cases up for a subtask mid-run.

        Raises:
            ValueError: an unknown selection, or a negative k or quota.
        """
        super().__init__()
        if selection not in ("none", "similarity", "q", "q_softmax"):
            raise ValueError(f"selection must be none, similarity, q or q_softmax: {selection!r}")
        for name, value in (("k", k), ("positive", positive), ("negative", negative)):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        context = Context(
            selection=selection, k=k, positive_quota=positive, negative_quota=negative,
            namespace=namespace, learn=learn, temperature=temperature,
        )  # fmt: skip
        self.context = context if home is None else replace(context, home=str(home))
        self.reward = reward
        self.task = task
        self._deps = Deps(case_bank=case_bank, learner=learner)
        search = build_case_search(lambda: self.selector, k=k, namespace=namespace)
        self.tools = [search] if case_search else []

    # -- what it runs with (built on first use, like the graph's) ----------------------------
    @property
    def bank(self) -> CaseBank:
        """The case bank read and written."""
        return self._deps.bank(self.context)

    @property
    def learner(self) -> Learner:
        """The learner runs are recorded through (learns nothing under selection 'none')."""
        return self._deps.q_learner(self.context)

    @property
    def selector(self) -> CaseSelector:
        """The selection policy the configuration names, over the bank."""
        return self._deps.case_selector(self.context)

    # -- the hooks ---------------------------------------------------------------------------
    def before_agent(self, state: MementoState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Select cases for the task, once per thread (a resumed thread keeps its own)."""
        if "memento_cases" in state:
            return None
        task = self.task(state)
        return {"memento_task": task, "memento_cases": self._select(task) if task else []}

    async def abefore_agent(
        self, state: MementoState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async `before_agent`: selection runs in a worker thread."""
        return await asyncio.to_thread(self.before_agent, state, runtime)

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with the selected cases appended to its system message."""
        return handler(self._with_cases(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async `wrap_model_call`."""
        return await handler(self._with_cases(request))

    def after_agent(self, state: MementoState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Write the run as a case and record its Q transition (or keep it pending)."""
        return self._finish(state, _thread_id(runtime))

    async def aafter_agent(
        self, state: MementoState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async `after_agent`: the bank and learner work runs in a worker thread."""
        return await asyncio.to_thread(self._finish, state, _thread_id(runtime))

    # -- delayed feedback --------------------------------------------------------------------
    def give_feedback(self, thread_id: str, reward: float, *, namespace: str | None = None) -> str:
        """Set or correct a finished thread's reward: write or relabel its case, train Q.

        Returns:
            The id of the case holding the run.

        Raises:
            FeedbackError: no run of this thread was recorded, or a reward outside [0, 1].
        """
        key = case_key(namespace or self.context.namespace, thread_id, "")
        run = load_run(self.bank, key)
        if run is None:
            raise FeedbackError(f"no agent run of thread {thread_id!r} in this bank")
        try:
            case_id, _ = settle(self.bank, self.learner, run, reward, lock=self._lock())
        except ValueError as exc:
            raise FeedbackError(str(exc)) from exc
        return case_id

    async def agive_feedback(
        self, thread_id: str, reward: float, *, namespace: str | None = None
    ) -> str:
        """Async `give_feedback`."""
        return await asyncio.to_thread(self.give_feedback, thread_id, reward, namespace=namespace)

    # -- helpers -----------------------------------------------------------------------------
    def _select(self, task: str) -> list[ShownCase]:
        ctx = self.context
        if ctx.selection == "none" or ctx.k <= 0:
            return []
        picked = self.selector.select(
            task, k=ctx.k, namespace=ctx.namespace,
            positive=ctx.positive_quota, negative=ctx.negative_quota,
        )  # fmt: skip
        return [shown(s) for s in picked]

    def _with_cases(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        cases = cast("list[ShownCase]", request.state.get("memento_cases") or [])
        if not cases:
            return request
        return request.override(system_message=with_memory(request.system_message, cases))

    def _lock(self) -> Any:
        return self._deps.learner_lock(self.learner)

    def _finish(self, state: MementoState, thread_id: str | None) -> dict[str, Any] | None:
        task = state.get("memento_task")
        if not self.context.learn or not task:
            return None
        masked = redact(task)  # a key pasted into a task is not kept in the bank
        ns = self.context.namespace
        shown = state.get("memento_cases", [])
        run = AgentRun(
            key=case_key(ns, thread_id, masked),
            task=masked,
            plan=trajectory_plan(state.get("messages", [])),
            shown_ids=[c["id"] for c in shown],
            namespace=ns,
            shown_labels=[c["label"] for c in shown],
        )
        reward = self.reward(state) if self.reward is not None else None
        earlier = load_run(self.bank, run.key)
        if reward is None:
            if earlier is not None and earlier.reward is not None:
                return None  # a later turn of a settled thread: the case stands
            save_run(self.bank, run)  # pending: give_feedback completes it
            return {"memento_case_id": None, "memento_reward": None}
        if earlier is not None:
            run = replace(run, reward=earlier.reward)
        case_id, _ = settle(self.bank, self.learner, run, float(reward), lock=self._lock())
        return {"memento_case_id": case_id, "memento_reward": float(reward)}


def _thread_id(runtime: Runtime[Any]) -> str | None:
    """The run's thread id (None without a checkpointer)."""
    info = getattr(runtime, "execution_info", None)
    if info is not None and info.thread_id:
        return str(info.thread_id)
    try:
        thread = (get_config().get("configurable") or {}).get("thread_id")
    except RuntimeError:  # outside a runnable context
        return None
    return str(thread) if thread else None
