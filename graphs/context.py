"""Run-time configuration of the graph, passed as LangGraph's context (never read from globals).

Environment variables only fill defaults via `memento.settings` (read when a Context is made,
never by a node); a value set in the context always wins. Simple types only, so the same fields
are configurable from LangGraph Studio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from memento.settings import get_settings

Selection = Literal["none", "similarity", "q", "q_softmax"]
RewardMetric = Literal["em", "f1", "pm", "llm"]
QForm = Literal["mlp", "residual", "kernel"]


def _setting(name: str) -> str:
    """The settings' value of `name` as a string ('' when unset): a field's default."""
    value = getattr(get_settings(), name)
    return "" if value is None else str(value)


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
        default_factory=lambda: _setting("judge_model"),
        metadata={
            "description": "LLM judge spec (empty: metric rewards only). Default: "
            "MEMENTO_JUDGE_MODEL."
        },
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
        default_factory=lambda: float(_setting("model_timeout_s")),
        metadata={
            "description": "Seconds one planner, executor or judge model call may take, the "
            "client's retries included; past it the call failed and the run stops where it "
            "was (re-run to resume): a stuck service never hangs a run. Default: "
            "MEMENTO_MODEL_TIMEOUT_S, else 300."
        },
    )
    tool_timeout_s: float = field(
        default_factory=lambda: float(_setting("tool_timeout_s")),
        metadata={
            "description": "Seconds one round of executor tool calls may take; past it each "
            "call gets an error result and the run goes on (a blocking tool's thread is left "
            "to finish on its own; the built-in tools' own limits are shorter). Default: "
            "MEMENTO_TOOL_TIMEOUT_S, else 300."
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
            "read_document, calculator, case_search (past cases for a subtask), mcp or "
            "mcp:<server>."
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
        default_factory=lambda: _setting("home"),
        metadata={"description": "Store folder. Default: MEMENTO_HOME, else ./.memento."},
    )
    chroma_url: str = field(
        default_factory=lambda: _setting("chroma_url"),
        metadata={
            "description": "Chroma server URL (empty: embedded store). Default: MEMENTO_CHROMA_URL."
        },
    )
    q_train: str = field(
        default="similarity,q,q_softmax",
        metadata={
            "description": "Comma-separated selection policies whose runs train the Q-function "
            "(update_q records them); runs of other policies record nothing. `memento eval` "
            "sets 'q,q_softmax' (its similarity mode trains no Q)."
        },
    )
    q_form: QForm = field(
        default="kernel",
        metadata={
            "description": "Q form: kernel (kernel episodic control over the logged runs in "
            "<home>/q; no network, no training), or a network trained online: mlp (towers and "
            "an MLP head) or residual (similarity plus a learned correction; a stored "
            "checkpoint keeps its own form). q_share needs a network form."
        },
    )
    q_lr: float = field(
        default=1e-3,
        metadata={"description": "Network forms: learning rate (AdamW) of a new Q-function."},
    )
    q_seed: int = field(
        default=0,
        metadata={
            "description": "Seed of Q's sampling (q_softmax) and of a new network's weights."
        },
    )
    q_steps_per_record: int = field(
        default=1, metadata={"description": "Network forms: update steps after each finished run."}
    )
    q_unused_weight: float = field(
        default=0.3,
        metadata={
            "description": "Network forms: loss weight of shown cases the planner said it did "
            "not use."
        },
    )
    q_shortlist: int = field(
        default=16,
        metadata={
            "description": "Most similar cases re-ranked by Q (network forms: only in banks "
            "above q_exact_below)."
        },
    )
    q_exact_below: int = field(
        default=2000,
        metadata={
            "description": "Network forms: banks of at most this many cases are scored exactly."
        },
    )
    q_share: str = field(
        default_factory=lambda: _setting("q_share"),
        metadata={
            "description": "Network forms: where a Q-function shared by processes lives, a "
            "postgres:// DSN or a folder all workers reach. Set: this process only logs "
            "transitions and acts on published weights (`memento q serve-trainer` trains). "
            "Empty: train in-process (<home>/q). Default: MEMENTO_Q_SHARE."
        },
    )

    def q_trains(self) -> bool:
        """True when this run's selection policy trains the Q-function (`q_train`)."""
        return self.selection in {s.strip() for s in self.q_train.split(",")}
