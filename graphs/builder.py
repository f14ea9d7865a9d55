"""Builds the M-MDP graph: retrieve, plan, execute (replan), judge, write memory, update Q.

`build_graph(...)` is what Python users, the CLI and parent graphs call (with any checkpointer);
`memento.graphs.studio` compiles the same graph without a checkpointer for LangGraph Studio.
A model call that brings no reply raises `ModelCallFailed` out of the graph (plan, the executor's
call_model and judge first ask again for a reply that arrived unreadable): the run stops before
judge, write_memory and update_q, its checkpoint stays at the last finished step, and invoking
the same thread again (input None) resumes there.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.executor import build_executor
from memento.graphs.models import model_retry_policy
from memento.graphs.state import InputState, OutputState, State
from memento.infra.redacting_serde import redact_checkpointer
from memento.memory.learning import Learner
from memento.memory.selection import CaseSelector
from memento.nodes.execute import execute
from memento.nodes.judge import judge
from memento.nodes.plan import plan
from memento.nodes.retrieve_cases import retrieve_cases
from memento.nodes.update_q import update_q
from memento.nodes.write_memory import write_memory

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank


def route_after_plan(state: State) -> Literal["execute", "judge"]:
    """Execute a fresh plan; judge an answer or a failure."""
    return "execute" if state.get("status") == "executing" else "judge"


def route_after_execute(state: State) -> Literal["execute", "plan"]:
    """Next subtask while the plan has one; else back to the planner."""
    steps = (state.get("plan") or {}).get("plan", [])
    return "execute" if state.get("next_subtask", 0) < len(steps) else "plan"


def build_graph(
    *,
    checkpointer: Any = None,
    store: Any = None,
    planner: BaseChatModel | str | None = None,
    executor: BaseChatModel | str | None = None,
    judge_model: BaseChatModel | str | None = None,
    tools: list[BaseTool] | None = None,
    case_bank: CaseBank | None = None,
    selector: CaseSelector | None = None,
    learner: Learner | None = None,
    name: str = "memento",
) -> CompiledStateGraph[State, Context, InputState, OutputState]:
    """Compile the Memento graph.

    Args:
        checkpointer: Any LangGraph checkpointer (SQLite, Postgres, in-memory) or None.
        store: Optional LangGraph store.
        planner: Chat model (or spec) for planning; None: from the run's context.
        executor: Chat model (or spec) for subtasks; None: from the run's context.
        judge_model: Chat model (or spec) for LLM judging; None: from the run's context.
        tools: Executor tools; None: the registry's tools named in the context.
        case_bank: A CaseBank; None: the bank at the context's location.
        selector: A CaseSelector; None: the context's selection policy over the bank.
        learner: A `Learner`; None: the one the context's Q fields describe (`Deps.q_learner`).
        name: Name of the compiled graph (shown in Studio and as a subgraph).
    """
    deps = Deps(
        planner=planner,
        executor=executor,
        judge=judge_model,
        tools=tools,
        case_bank=case_bank,
        selector=selector,
        learner=learner,
    )
    # checkpointer=None: the executor shares the parent's checkpointer under the execute
    # task's namespace, so a subtask interrupted mid-way resumes its own tool loop.
    inner = build_executor(deps, checkpointer=None)
    builder = StateGraph(
        State, context_schema=Context, input_schema=InputState, output_schema=OutputState
    )
    builder.add_node("retrieve_cases", partial(retrieve_cases, deps=deps))
    retry = model_retry_policy()  # a reply that arrived unreadable is asked for again
    builder.add_node("plan", partial(plan, deps=deps), retry_policy=retry)
    builder.add_node("execute", partial(execute, executor=inner))
    builder.add_node("judge", partial(judge, deps=deps), retry_policy=retry)
    builder.add_node("write_memory", partial(write_memory, deps=deps))
    builder.add_node("update_q", partial(update_q, deps=deps))
    builder.add_edge(START, "retrieve_cases")
    builder.add_edge("retrieve_cases", "plan")
    builder.add_conditional_edges("plan", route_after_plan, ["execute", "judge"])
    builder.add_conditional_edges("execute", route_after_execute, ["execute", "plan"])
    builder.add_edge("judge", "write_memory")
    builder.add_edge("write_memory", "update_q")
    builder.add_edge("update_q", END)
    if checkpointer is not None and not isinstance(checkpointer, bool):
        redact_checkpointer(checkpointer)  # a key pasted into a task never reaches a checkpoint
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
