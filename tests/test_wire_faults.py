"""The real model path over the wire: an outage is not a wrong answer, memory never learns from one.

A scripted OpenAI-compatible server on 127.0.0.1 (`tests.support.openai_server`) answers the real
`langchain_openai.ChatOpenAI` client that `memento run` and `memento eval` build from
OPENAI_BASE_URL, plain and streamed, and injects the faults of issue 15 (numbered as there; the
others are in test_wire_protocol.py). Every test asserts what reaches the case bank, the Q replay
and results.jsonl (nothing poisoned, nothing lost, nothing duplicated) and that the retry after
the fault clears completes the task.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.eval.results import ResultRow, read_results
from memento.memory.case_bank import CaseBank
from memento.testing import RecordingLearner, make_case
from tests.support import wire as support
from tests.support.openai_server import (
    MODEL,
    Call,
    ScriptedOpenAI,
    Text,
    ToolCalls,
    closed_port_url,
    rate_limited,
    role_of,
    server_error,
)
from tests.support.wire import (
    FAULTS,
    QUESTIONS,
    SEED_TASK,
    cases_of,
    eval_once,
    learning_bank,
    make_tasks,
    one_error_line,
    planner_asks,
    point_at,
    row_keys,
    task_of,
    trained_keys,
)

runner = CliRunner()
server, streamed, wire = support.server, support.streamed, support.wire  # the fixtures


def extra(row: ResultRow, key: str) -> Any:
    """A field the runner adds beyond the row schema (status, failure)."""
    return (row.model_extra or {}).get(key)


# 1. Infrastructure failures become negative cases and train Q --------------------------------


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
async def test_1_planner_outage_is_an_error_row_not_a_case(
    wire: ScriptedOpenAI, fault: str, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path)
    bank, learner, out = learning_bank(tmp_path)
    wire.down(FAULTS[fault], when=planner_asks("Japan"))
    first = await eval_once(tasks, out, bank, learner)
    rows = {r.task_id: r for r in read_results(out)}
    japan = next(t.task_id for t in tasks if "Japan" in t.question)
    error = rows[japan].error or ""
    assert "planner" in error and "127.0.0.1" in error  # the call and its endpoint are named
    assert sorted(cases_of(bank)) == [QUESTIONS[0][0], QUESTIONS[2][0]]  # nothing for Japan
    assert not any(japan in key for key in trained_keys(learner))  # no Q transition for it
    assert first.epochs[0].errors == 1

    wire.up()
    again = await eval_once(tasks, out, bank, learner)
    assert again.ran == 1  # only the failed task ran again
    assert row_keys(out) == {(t.task_id, 1): 1 for t in tasks}  # replaced, not duplicated
    rows = {r.task_id: r for r in read_results(out)}
    assert rows[japan].error is None and rows[japan].prediction == "Tokyo"
    assert cases_of(bank)[QUESTIONS[1][0]].label == "positive"
    assert sum(japan in key for key in trained_keys(learner)) == 1


async def test_1_refused_connection_names_the_endpoint_then_the_rerun_completes(
    wire: ScriptedOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path)
    bank, learner, out = learning_bank(tmp_path)
    dead = closed_port_url()
    point_at(monkeypatch, dead)
    await eval_once(tasks, out, bank, learner)
    rows = read_results(out)
    assert len(rows) == 3 and all(r.error and dead.split("//")[1] in r.error for r in rows)
    assert cases_of(bank) == {} and learner.calls == []
    assert all(r.input_tokens in (None, 0) for r in rows)

    point_at(monkeypatch, wire.url)
    await eval_once(tasks, out, bank, learner)
    rows = read_results(out)
    assert len(rows) == 3 and all(r.error is None and r.reward == 1.0 for r in rows)
    assert len(cases_of(bank)) == 3 and len(learner.calls) == 3


def test_1_memento_run_outage_exits_nonzero_and_resumes(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    CaseBank.from_settings().add_cases([make_case(SEED_TASK, case_id="seed")])
    wire.down(rate_limited("0.05"), when=lambda b: role_of(b) == "planner")
    args = ["run", "What is 6 times 7?", "-g", "42", "--thread-id", "t-wire", "--json"]
    failed = runner.invoke(app, args)
    assert failed.exit_code not in (0, 2), failed.output
    line = one_error_line(failed.output)
    assert "planner" in line and wire.url.split("//")[1].split("/")[0] in line
    assert "sk-wire-test-secret" not in failed.output
    bank = CaseBank.from_settings()
    assert [c.id for c in bank.list()] == ["seed"]  # no negative case for an outage
    assert not replay_rows(home)  # no Q transition

    wire.up()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    result = [json.loads(x) for x in done.output.splitlines() if x.startswith("{")][-1]
    assert result["status"] == "answered" and result["answer"] == "42"
    assert result["reward"] == 1.0 and result["case_id"] == "run:default:t-wire"
    assert len(replay_rows(home)) == 1


def replay_rows(home: Path) -> list[Any]:
    """Transitions in the Q replay of a `memento run` store (none when it was never made)."""
    from memento.memory.q.replay import REPLAY_FILE, ReplayBuffer

    path = home / "q" / REPLAY_FILE
    if not path.exists():
        return []
    buffer = ReplayBuffer(path)
    try:
        return buffer.all()
    finally:
        buffer.close()


# 2. One bad response ends the task ------------------------------------------------------------


@pytest.mark.parametrize("fault", ["malformed", "empty", "503"])
async def test_2_one_bad_response_is_retried_not_the_end(
    wire: ScriptedOpenAI, fault: str, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, QUESTIONS[:1])
    bank, learner, out = learning_bank(tmp_path)
    wire.script(FAULTS[fault])  # the planner's first reply is broken, the next one is fine
    await eval_once(tasks, out, bank, learner)
    [row] = read_results(out)
    assert row.error is None and extra(row, "failure") is None, row
    assert row.prediction == "Paris" and row.reward == 1.0
    assert len(wire.bodies("planner")) == 2
    assert cases_of(bank)[QUESTIONS[0][0]].label == "positive"


async def test_2_repair_rounds_count_replies_and_say_so(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Unusable replies are the model's doing: a recorded task failure naming the replies."""
    tasks = make_tasks(tmp_path, QUESTIONS[:1])
    bank, learner, out = learning_bank(tmp_path)
    wire.script(FAULTS["empty"], Text("no json here"), Text("still none"), Text("{}"))
    await eval_once(tasks, out, bank, learner, plan_retries=2)
    [row] = read_results(out)
    failure = str(extra(row, "failure"))
    assert row.error is None and extra(row, "status") == "failed"
    assert "3 replies" in failure and "exception" not in failure
    assert len(wire.bodies("planner")) == 4  # the empty response was retried, not a round


async def test_1_executor_outage_mid_subtask_resumes_its_tool_loop(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, [("What is 6 times 7?", "42")])
    bank, learner, out = learning_bank(tmp_path)
    plan = {"plan": [{"id": 1, "description": "Compute 6*7 with the calculator."}]}
    call = ToolCalls((Call("calculator", json.dumps({"expression": "6*7"}), id="call_1"),))
    wire.script(Text(json.dumps(plan)), call)

    def after_tool(b: dict[str, Any]) -> bool:
        return role_of(b) == "executor" and any(m.get("role") == "tool" for m in b["messages"])

    wire.down(server_error(503), when=after_tool)  # the call after the tool ran fails
    await eval_once(tasks, out, bank, learner)
    [row] = read_results(out)
    assert row.error and "executor model call failed" in row.error
    assert cases_of(bank) == {} and learner.calls == []

    wire.up()
    await eval_once(tasks, out, bank, learner)
    [row] = read_results(out)
    assert row.error is None and row.prediction == "42", row
    last = wire.bodies("executor")[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool"]  # resumed
    assert len(cases_of(bank)) == 1 and len(learner.calls) == 1


# 6. A judge error is invisible ----------------------------------------------------------------


async def test_6_judge_error_is_an_error_row_then_retried(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    tasks = make_tasks(tmp_path, QUESTIONS[:2])
    bank, learner, out = learning_bank(tmp_path)
    wire.down(server_error(500), when=lambda b: role_of(b) == "judge")
    await eval_once(tasks, out, bank, learner, reward_metric="llm", judge_model=MODEL)
    rows = read_results(out)
    assert len(rows) == 2 and all(r.error and "judge" in r.error for r in rows), rows
    assert cases_of(bank) == {} and learner.calls == []

    wire.up()
    await eval_once(tasks, out, bank, learner, reward_metric="llm", judge_model=MODEL)
    rows = read_results(out)
    assert len(rows) == 2 and all(r.error is None and r.judge_correct for r in rows)
    assert all(r.reward == 1.0 for r in rows) and len(cases_of(bank)) == 2


# The closing scenario: a planner outage in the middle of epoch 1 of a 20-task, 2-epoch eval -----


class MidEpochOutage:
    """Planner calls fail from task `first` until the first call about task `after`, once."""

    def __init__(self, first: int, after: int) -> None:
        self.first, self.after, self.on, self.over = first, after, False, False

    def __call__(self, body: dict[str, Any]) -> bool:
        if role_of(body) != "planner":
            return False
        item = int(re.findall(r"item (\d+)", task_of(body))[0])
        if item == self.first and not self.over:
            self.on = True
        if item == self.after and self.on:
            self.on, self.over = False, True
        return self.on


def tally(out: Path, bank: CaseBank, learner: RecordingLearner) -> dict[str, int]:
    rows = read_results(out)
    cases = cases_of(bank)
    return {
        "rows": len(rows),
        "error_rows": sum(r.error is not None for r in rows),
        "cases": len(cases),
        "observations": sum(c.observations for c in cases.values()),
        "negative_cases": sum(c.label == "negative" for c in cases.values()),
        "q_transitions": len(learner.calls),
    }


async def test_planner_outage_mid_epoch_1_of_a_20_task_eval(
    wire: ScriptedOpenAI, tmp_path: Path
) -> None:
    questions = [(f"What is the code word of item {n}?", f"word{n}") for n in range(1, 21)]
    tasks = make_tasks(tmp_path, questions)
    bank, learner, out = learning_bank(tmp_path)
    wire.down(server_error(503), when=MidEpochOutage(first=8, after=13))
    first = await eval_once(tasks, out, bank, learner, epochs=2)
    before = tally(out, bank, learner)
    failed = sorted(int(r.task_id.split(":")[1]) for r in read_results(out) if r.error)
    wire.up()
    again = await eval_once(tasks, out, bank, learner, epochs=2)
    after = tally(out, bank, learner)
    print(f"\nbefore the rerun: {before} (failed epoch-1 tasks {failed}, ran {first.ran})")
    print(f"after the rerun:  {after} (ran {again.ran}, already done {again.skipped})")
    assert failed == [8, 9, 10, 11, 12]
    assert before == {"rows": 40, "error_rows": 5, "cases": 20, "observations": 35,
                      "negative_cases": 0, "q_transitions": 35}  # fmt: skip
    assert after == {"rows": 40, "error_rows": 0, "cases": 20, "observations": 40,
                     "negative_cases": 0, "q_transitions": 40}  # fmt: skip
    assert again.ran == 5 and len(set(trained_keys(learner))) == 40
