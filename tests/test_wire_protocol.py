"""The real model path over the wire: tool calls, model names, timeouts, merges and accounting.

Issue 15's failures 3, 4, 5, 7 and 8 through the scripted OpenAI-compatible server and the real
ChatOpenAI client, plain and streamed (failures 1, 2 and 6 are in test_wire_faults.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.eval.results import read_results
from memento.eval.run_config import EvalConfig
from memento.eval.runner import run_eval
from memento.graphs import Context
from memento.settings import get_settings
from memento.testing import make_bank, make_case
from tests.support import wire as support
from tests.support.openai_server import (
    MODEL,
    Call,
    Fault,
    Reply,
    ScriptedOpenAI,
    Text,
    ToolCalls,
    closed_port_url,
    mixed_tool_calls,
    role_of,
)
from tests.support.wire import (
    QUESTIONS,
    calculator,
    eval_once,
    learning_bank,
    make_tasks,
    one_error_line,
    point_at,
)

runner = CliRunner()
server, streamed, wire = support.server, support.streamed, support.wire  # the fixtures


# 3. Tool-call protocol ------------------------------------------------------------------------


def plan_then_answer(answer: str) -> list[Reply]:
    plan = {"plan": [{"id": 1, "description": "Compute 6*7 with the calculator."}]}
    return [Text(json.dumps(plan)), Text(json.dumps({"answer": answer}))]


async def test_3_every_tool_call_gets_one_tool_message(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, [("What is 6 times 7?", "42")])
    bank, learner, out = learning_bank(tmp_path)
    plan, answer = plan_then_answer("42")
    valid = Call("calculator", json.dumps({"expression": "6*7"}), id="call_ok")
    wire.script(plan, mixed_tool_calls(valid), Text("6*7 = 42"), answer)
    await eval_once(tasks, out, bank, learner)
    [row] = read_results(out)
    assert row.error is None and row.prediction == "42", row
    second = wire.bodies("executor")[1]
    tool_messages = [m for m in second["messages"] if m.get("role") == "tool"]
    assert sorted(m["tool_call_id"] for m in tool_messages) == [
        "call_badjson", "call_ok", "call_unknown",
    ]  # fmt: skip
    by_id = {m["tool_call_id"]: str(m["content"]) for m in tool_messages}
    assert by_id["call_ok"] == "42"
    assert "json" in by_id["call_badjson"].lower() and "no_such_tool" in by_id["call_unknown"]


async def test_3_bad_json_arguments_go_back_to_the_model(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, [("What is 6 times 7?", "42")])
    bank, learner, out = learning_bank(tmp_path)
    plan, answer = plan_then_answer("42")
    bad = ToolCalls((Call("calculator", '{"expression": 6*7', id="call_bad"),))
    good = ToolCalls((Call("calculator", '{"expression": "6*7"}', id="call_good"),))
    wire.script(plan, bad, good, Text("42"), answer)
    await eval_once(tasks, out, bank, learner)
    [row] = read_results(out)
    assert row.error is None and row.prediction == "42"
    assert len(wire.bodies("executor")) == 3  # the model saw its error and tried again
    replan = wire.bodies("planner")[1]
    assert 'ok="True"' in task_context(replan)


def task_context(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"])


# 4. Model names as users write them -----------------------------------------------------------


def test_4_ollama_tag_goes_to_the_openai_endpoint(
    wire: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMENTO_LLM", "qwen2.5:7b")
    get_settings.cache_clear()
    result = runner.invoke(app, ["run", "What is 6 times 7?", "-g", "42", "--json"])
    assert result.exit_code == 0, result.output
    assert {b["model"] for b in wire.bodies()} == {"qwen2.5:7b"}


@pytest.mark.parametrize("command", ["run", "eval"])
def test_4_bad_spec_is_one_line_exit_2_before_any_task(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for var in ("OPENAI_BASE_URL", "MEMENTO_LLM", "MEMENTO_JUDGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wire-test-secret")
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    tasks_file = tmp_path / "tiny.jsonl"
    make_tasks(tmp_path)
    args = {
        "run": ["run", "What is 6 times 7?", "--llm", "qwen2.5:7b"],
        "eval": ["eval", str(tasks_file), "--out", str(tmp_path / "out"), "--llm", "qwen2.5:7b"],
    }[command]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert "qwen2.5:7b" in line
    assert not (tmp_path / "out" / "results.jsonl").exists()
    assert not (tmp_path / "home").exists()


# 5. Timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["flag", "env"])
def test_5_model_timeout_is_settable_and_bounds_a_hang(
    wire: ScriptedOpenAI, via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMENTO_MODEL_HTTP_TIMEOUT_S", "60")  # the deadline must do it alone
    wire.down(Fault("hang", seconds=30.0), when=lambda b: role_of(b) == "planner")
    args = ["run", "What is 6 times 7?", "-g", "42", "--thread-id", "t-hang"]
    if via == "flag":
        args += ["--model-timeout", "1.5", "--tool-timeout", "5"]
    else:
        monkeypatch.setenv("MEMENTO_MODEL_TIMEOUT_S", "1.5")
        monkeypatch.setenv("MEMENTO_TOOL_TIMEOUT_S", "5")
    get_settings.cache_clear()
    start = time.monotonic()
    result = runner.invoke(app, args)
    assert time.monotonic() - start < 20.0
    assert result.exit_code not in (0, 2), result.output
    assert "planner" in one_error_line(result.output)
    wire.up()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "answer: 42" in done.output


def test_5_client_has_an_http_timeout(wire: ScriptedOpenAI) -> None:
    from memento.graphs.models import load_chat_model

    model = load_chat_model(MODEL)
    assert getattr(model, "request_timeout", None) == 1.0
    assert getattr(model, "max_retries", None) == 1


# 7. A merge keeps the failed plan -------------------------------------------------------------


def test_7_merge_keeps_the_best_rewarded_plan(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=0.97)
    task = "What is 6 times 7?"
    direct = {"plan": [{"id": 1, "description": "Answer directly without subtasks."}]}
    calc = {"plan": [{"id": 1, "description": "Compute 6*7 with the calculator."}]}
    first = bank.add(task, direct, reward=0.0, namespace="eval-q", case_id="run:e1")
    second = bank.add(task, calc, reward=1.0, namespace="eval-q", case_id="run:e2")
    assert second == first  # folded into one case
    case = bank.get(first)
    assert case is not None
    assert case.plan.model_dump() == calc and case.label == "positive"
    bank.add(task, direct, reward=0.0, namespace="eval-q", case_id="run:e3")  # a worse one
    case = bank.get(first)
    assert case is not None and case.plan.model_dump() == calc and case.label == "positive"


def test_7_merge_in_one_batch_keeps_the_best_rewarded_plan(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=0.97)
    task = "What is 6 times 7?"
    failed = make_case(task, label="negative", steps=("Answer directly without subtasks.",))
    solved = make_case(task.lower(), steps=("Compute 6*7 with the calculator.",))
    report = bank.add_cases_report([failed, solved])
    assert (report.added, report.merged) == (1, 1)
    [case] = bank.list()
    assert [s.description for s in case.plan.plan] == ["Compute 6*7 with the calculator."]
    assert case.label == "positive" and case.reward == 0.5


# 8. Accounting --------------------------------------------------------------------------------


async def test_8_streamed_calls_ask_for_usage_and_tokens_match(
    wire: ScriptedOpenAI, streamed: bool, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, QUESTIONS[:2])
    bank, learner, out = learning_bank(tmp_path)
    await eval_once(tasks, out, bank, learner)
    bodies = wire.bodies()
    assert all(bool(b.get("stream")) == streamed for b in bodies)
    if streamed:
        assert all((b.get("stream_options") or {}).get("include_usage") for b in bodies)
    rows = read_results(out)
    assert sum(r.input_tokens or 0 for r in rows) == 11 * len(bodies)
    assert sum(r.output_tokens or 0 for r in rows) == 7 * len(bodies)


async def test_8_calls_without_usage_and_unpriced_models_are_named(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    from memento.eval.report import build_report
    from memento.eval.usage import Price

    tasks = make_tasks(tmp_path, QUESTIONS[:2])
    bank, learner, out = learning_bank(tmp_path)
    wire.script(Text(json.dumps({"answer": "Paris"}), usage=None))
    context = Context(reward_metric="pm", k=2)
    prices = {"gpt-4.1-mini": Price(input=0.4, output=1.6)}
    config = EvalConfig(memory="q", epochs=1, out=out, context=context, prices=prices)
    await run_eval(tasks, config, tools=[calculator], case_bank=bank, learner=learner,
                   progress=False)  # fmt: skip
    rows = read_results(out)
    unmetered = [getattr(r, "unmetered_calls", None) for r in rows]
    assert sorted(unmetered, key=str) == [0, 1], unmetered
    report = build_report([out], tmp_path / "report").markdown.read_text(encoding="utf-8")
    assert "without usage" in report and MODEL in report and "no price" in report


def test_8_eval_cli_row_names_the_refused_endpoint(
    wire: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    make_tasks(tmp_path, QUESTIONS[:1])
    dead = closed_port_url()
    point_at(monkeypatch, dead)
    args = ["eval", str(tmp_path / "tiny.jsonl"), "--out", str(tmp_path / "out"),
            "--memory", "none", "--json"]  # fmt: skip
    runner.invoke(app, args)
    [row] = read_results(tmp_path / "out")
    assert row.error and dead.split("//")[1] in row.error and "Connection error." != row.error
    point_at(monkeypatch, wire.url)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    [row] = read_results(tmp_path / "out")
    assert row.error is None and row.prediction == "Paris"
