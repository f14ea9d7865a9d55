"""Fixtures and helpers of the wire tests (tests/test_wire_*.py): the user's environment.

`wire` starts the scripted OpenAI-compatible server (`tests.support.openai_server`) and points
OPENAI_BASE_URL, MEMENTO_LLM and the client's retries and timeouts (small, so tests stay fast)
at it, once plain and once streamed (`streamed`). Import the fixtures into a test module.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import tool
from typer.testing import CliRunner

from memento.eval.datasets import Task, load_dataset
from memento.eval.results import read_results
from memento.eval.run_config import EvalConfig
from memento.eval.run_summary import EvalSummary
from memento.eval.runner import run_eval
from memento.graphs import Context
from memento.memory.case_bank import CaseBank
from memento.settings import get_settings
from memento.testing import RecordingLearner, make_bank, make_case
from tests.support.openai_server import (
    MODEL,
    Fault,
    Reply,
    ScriptedOpenAI,
    Text,
    rate_limited,
    role_of,
    serve,
    server_error,
)

runner = CliRunner()

FACTS = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "6 times 7": "42"}
QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of Peru?", "Lima"),
]
SEED_TASK = "What is the capital of Spain?"

FAULTS: dict[str, Fault] = {
    "429": rate_limited("0.05"),
    "500": server_error(500),
    "503": server_error(503),
    "drop": Fault("drop"),
    "malformed": Fault("malformed"),
    "empty": Fault("empty"),
    "hang": Fault("hang", seconds=20.0),
}


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as 6*7."""
    allowed = set("0123456789+-*/(). ")
    if not set(expression) <= allowed:
        return "Error: only arithmetic"
    return str(eval(expression))  # noqa: S307 - digits and operators only


def task_of(body: dict[str, Any]) -> str:
    """The task text of a planner or executor request (from its prompt's <task> tag)."""
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
    found = re.search(r"<task>\s*(.*?)\s*</task>", text, re.S)
    return found.group(1) if found else text


def answer_for(task: str) -> str:
    item = re.search(r"item (\d+)", task)
    if item:
        return f"word{item.group(1)}"
    return next((a for key, a in FACTS.items() if key in task.lower()), "unknown")


def answering(body: dict[str, Any]) -> Reply:
    """A model that answers every role well: the planner answers directly, the judge agrees."""
    role = role_of(body)
    if role == "planner":
        return Text(json.dumps({"answer": answer_for(task_of(body)), "used_cases": []}))
    if role == "executor":
        return Text("done")
    return Text(json.dumps({"rationale": "matches", "judgement": "correct"}))


def planner_asks(*words: str) -> Callable[[dict[str, Any]], bool]:
    """Requests of the planner about a task containing all `words`."""
    return lambda b: role_of(b) == "planner" and all(w in task_of(b) for w in words)


@pytest.fixture(params=[False, True], ids=["plain", "streamed"])
def streamed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    yield from serve()


@pytest.fixture
def wire(
    server: ScriptedOpenAI, streamed: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[ScriptedOpenAI]:
    """The environment a user of an OpenAI-compatible endpoint has, pointed at the server."""
    for var in ("MEMENTO_PLANNER_MODEL", "MEMENTO_EXECUTOR_MODEL", "MEMENTO_JUDGE_MODEL",
                "MEMENTO_CHROMA_URL", "MEMENTO_CHECKPOINTER", "MEMENTO_Q_SHARE"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wire-test-secret")
    monkeypatch.setenv("MEMENTO_LLM", MODEL)
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMENTO_LLM_STREAMING", "true" if streamed else "false")
    monkeypatch.setenv("MEMENTO_MODEL_RETRIES", "1")
    monkeypatch.setenv("MEMENTO_MODEL_HTTP_TIMEOUT_S", "1")
    monkeypatch.setenv("MEMENTO_MODEL_TIMEOUT_S", "8")
    get_settings.cache_clear()
    server.responder = answering
    yield server
    get_settings.cache_clear()


def point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    get_settings.cache_clear()


def make_tasks(tmp_path: Path, questions: list[tuple[str, str]] = QUESTIONS) -> list[Task]:
    path = tmp_path / "tiny.jsonl"
    rows = [{"question": q, "ground_truth": [a], "data_source": "wire"} for q, a in questions]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return load_dataset(path).tasks


def seeded_bank(path: Path, namespace: str = "eval-q") -> CaseBank:
    """A bank holding one case, so every task is shown a case and Q would train on it."""
    bank = make_bank(path)
    bank.add_cases([make_case(SEED_TASK, namespace=namespace, case_id="seed")])
    return bank


def learning_bank(tmp_path: Path) -> tuple[CaseBank, RecordingLearner, Path]:
    """A seeded bank, a learner recording Q transitions over it, and the run folder."""
    bank = seeded_bank(tmp_path / "chroma")
    return bank, RecordingLearner(bank), tmp_path / "run"


async def eval_once(
    tasks: list[Task], out: Path, bank: CaseBank, learner: RecordingLearner, **ctx: Any
) -> EvalSummary:
    epochs = ctx.pop("epochs", 1)
    context = Context(reward_metric=ctx.pop("reward_metric", "pm"), k=2, **ctx)
    config = EvalConfig(memory="q", epochs=epochs, out=out, context=context)
    return await run_eval(
        tasks, config, tools=[calculator], case_bank=bank, learner=learner, progress=False
    )


def cases_of(bank: CaseBank, namespace: str = "eval-q") -> dict[str, Any]:
    """Cases written by runs (the seed left out), by task."""
    return {c.task: c for c in bank.list(namespace=namespace) if c.id != "seed"}


def trained_keys(learner: RecordingLearner) -> list[str]:
    return [str(c["key"]) for c in learner.calls]


def row_keys(out: Path) -> Counter[tuple[str, int]]:
    return Counter(r.key for r in read_results(out))


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]
