"""The case record and the upstream plan shape, validated with pydantic.

A case is (task, plan, reward): upstream stores the plan as JSON text shaped
{"plan": [{"id": 1, "description": "..."}]} and the outcome as a positive/negative label.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Label = Literal["positive", "negative"]
LABELS: tuple[Label, ...] = get_args(Label)
"""Every label a case can hold."""

COUNTER_MAX = 2**63 - 1
"""Largest usage counter: Chroma keeps 64-bit integers and turns larger ones into floats."""


class PlanStep(BaseModel):
    """One subtask of a plan."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="Position of the subtask, starting at 1.")
    description: str = Field(min_length=1, description="What the executor should do.")


class Plan(BaseModel):
    """The upstream plan shape: {"plan": [{"id", "description"}, ...]}."""

    model_config = ConfigDict(extra="forbid")

    plan: list[PlanStep] = Field(min_length=1, description="Subtasks in execution order.")

    @classmethod
    def parse(cls, value: str | dict[str, Any] | Plan) -> Plan:
        """Build a plan from JSON text, a dict or a Plan; raises ValueError naming the problem."""
        if isinstance(value, Plan):
            return value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"plan is not valid JSON: {exc.msg} at char {exc.pos}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"plan must be a JSON object, got {type(value).__name__}")
        return cls.model_validate(value)

    def to_json(self) -> str:
        """Compact JSON text in the upstream shape."""
        return json.dumps(self.model_dump(), ensure_ascii=False, separators=(",", ":"))


def label_for(reward: float, threshold: float = 0.5) -> Label:
    """Map a reward in [0, 1] to the upstream label."""
    return "positive" if reward >= threshold else "negative"


def utc_now() -> str:
    """Current UTC time as ISO-8601 text (what records store)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Case(BaseModel):
    """One case of the Case Bank: a past task, the plan tried and how it turned out."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, description="Stable identifier (a thread id or a content hash).")
    task: str = Field(min_length=1, description="The task (state s) as the planner saw it.")
    plan: Plan = Field(description="The plan the planner wrote for it.")
    label: Label = Field(description="positive when the plan led to success, else negative.")
    reward: float = Field(ge=0.0, le=1.0, description="Numeric reward in [0, 1].")
    source: str = Field(default="memento", description="Where the case came from.")
    namespace: str = Field(default="default", min_length=1, description="User or project scope.")
    created_at: str = Field(default_factory=utc_now, description="ISO-8601 creation time (UTC).")
    times_retrieved: int = Field(
        default=0, ge=0, le=COUNTER_MAX, description="How often it was shown."
    )
    times_helpful: int = Field(
        default=0, ge=0, le=COUNTER_MAX, description="How often showing it helped."
    )
    observations: int = Field(
        default=1,
        ge=1,
        le=COUNTER_MAX,
        description="Runs the reward averages over (near-duplicates merged into this case).",
    )

    @field_validator("plan", mode="before")
    @classmethod
    def _coerce_plan(cls, value: Any) -> Any:
        return Plan.parse(value) if isinstance(value, str) else value


class ScoredCase(BaseModel):
    """A case picked by a selection policy, with the score that picked it."""

    case: Case
    score: float = Field(description="Cosine similarity or Q value, depending on the policy.")
