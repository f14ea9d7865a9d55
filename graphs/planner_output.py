"""Parsing the planner's JSON reply: a plan or a final answer, plus the case ids it used."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from memento.infra.jsonl import loads_line
from memento.memory.records import PlanStep

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class PlannerOutput(BaseModel):
    """Either a plan or an answer, never both."""

    plan: list[PlanStep] | None = Field(default=None, description="Subtasks to execute next.")
    answer: str | None = Field(default=None, description="The final answer.")
    used_cases: list[str] = Field(
        default_factory=list, description="Ids of shown cases the planner drew on."
    )

    @model_validator(mode="after")
    def _one_of(self) -> PlannerOutput:
        if (self.plan is None) == (self.answer is None):
            raise ValueError('reply must have exactly one of "plan" or "answer"')
        if self.plan is not None and not self.plan:
            raise ValueError('"plan" must list at least one subtask')
        return self


class PlannerOutputError(ValueError):
    """The planner's reply is not usable; the message says why (fed back for repair)."""


def _json_object(text: str) -> Any:
    stripped = _FENCE.sub("", text.strip()).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start < 0 or end <= start:
        raise PlannerOutputError("no JSON object found in the reply")
    try:
        return loads_line(stripped[start : end + 1])
    except json.JSONDecodeError as exc:
        raise PlannerOutputError(f"invalid JSON: {exc.msg} (char {exc.pos})") from exc


def parse_planner_output(text: str) -> PlannerOutput:
    """Parse a planner reply; raises PlannerOutputError naming the problem."""
    data = _json_object(text)
    if not isinstance(data, dict):
        raise PlannerOutputError("the reply must be a JSON object")
    if isinstance(data.get("used_cases"), list):
        data["used_cases"] = [str(x) for x in data["used_cases"]]
    try:
        return PlannerOutput.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        raise PlannerOutputError(f"{where}: {first['msg']}") from exc
