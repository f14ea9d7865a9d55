"""Run-time configuration of the graph, passed as LangGraph's context (never read from globals).

Environment variables only fill defaults via `memento.settings`; a value set in the context
always wins. Strings only, so the same fields are configurable from LangGraph Studio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Selection = Literal["none", "similarity", "q", "q_softmax"]
RewardMetric = Literal["em", "f1", "pm", "llm"]


@dataclass(kw_only=True)
class Context:
    """Everything a run may configure: models, memory policy, limits, store locations."""

    llm: str = field(
        default="",
        metadata={
            "description": "Model spec for every role unless a role's own is set: 'offline' "
            "(deterministic stand-in), 'provider:model' for init_chat_model, or a bare "
            "OpenAI-compatible model name. Empty: from settings (MEMENTO_LLM)."
        },
    )
    planner_model: str = field(default="", metadata={"description": "Planner model spec."})
    executor_model: str = field(default="", metadata={"description": "Executor model spec."})
    judge_model: str = field(
        default="", metadata={"description": "LLM judge spec (empty: metric rewards only)."}
    )
    selection: Selection = field(
        default="similarity",
        metadata={"description": "Case selection: none, similarity, q (greedy) or q_softmax."},
    )
    k: int = field(default=4, metadata={"description": "Cases shown to the planner."})
    positive_quota: int | None = field(
        default=None, metadata={"description": "At most this many positive cases (None: any)."}
    )
    negative_quota: int | None = field(
        default=None, metadata={"description": "At most this many negative cases (None: any)."}
    )
    temperature: float = field(
        default=1.0, metadata={"description": "Softmax temperature for q_softmax exploration."}
    )
    max_cycles: int = field(
        default=3, metadata={"description": "Plan-execute cycles before the planner must answer."}
    )
    max_executor_steps: int = field(
        default=6, metadata={"description": "Model calls per subtask in the executor loop."}
    )
    model_timeout_s: float = field(
        default=300.0,
        metadata={
            "description": "Seconds one planner, executor or judge model call may take; a "
            "later reply counts as a failed call (recorded): a stuck service never hangs a run."
        },
    )
    tool_timeout_s: float = field(
        default=300.0,
        metadata={
            "description": "Seconds one round of executor tool calls may take; past it each "
            "call gets an error result and the run goes on (a blocking tool's thread is left "
            "to finish on its own; the built-in tools' own limits are shorter)."
        },
    )
    plan_retries: int = field(
        default=2, metadata={"description": "Repair attempts for malformed planner output."}
    )
    tools: str = field(
        default="search,calculator",
        metadata={
            "description": "Comma-separated executor tools: search (Tavily when TAVILY_API_KEY "
            "is set, else the local corpus), web_search, corpus_search, fetch_page, python, "
            "read_document, calculator, mcp or mcp:<server>."
        },
    )
    reward_metric: RewardMetric = field(
        default="em",
        metadata={"description": "Reward from ground truth: em, f1, pm, or llm (judge model)."},
    )
    learn: bool = field(
        default=True, metadata={"description": "Write the case and update Q after the run."}
    )
    namespace: str = field(default="default", metadata={"description": "Case-bank namespace."})
    home: str = field(
        default="",
        metadata={"description": "Store folder (empty: MEMENTO_HOME, default ./.memento)."},
    )
    chroma_url: str = field(
        default="", metadata={"description": "Chroma server URL (empty: embedded store)."}
    )
