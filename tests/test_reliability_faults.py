"""Faults: a full or read-only store during a case write; models and tools that misbehave.

Every fault must end in a recorded outcome or, for a model call that brought no reply, an error
row that a re-run retries (never a crash or a hang), and must leave the case bank exactly as it
was. Stores fail through `FailingCollection`,
a proxy over the real Chroma collection that raises the OSError a full disk (ENOSPC) or a
read-only mount (EROFS) raises; models and tools are the deterministic fakes of
`tests.support.reliability.faulty_models`. Every await is bounded, so a regression fails, not hangs.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from memento.eval.datasets import Task
from memento.eval.results import ResultRow, read_results
from memento.eval.run_config import EvalConfig
from memento.eval.runner import run_eval
from memento.eval.task_run import run_task
from memento.graphs import Context, build_graph
from memento.memory.case_bank import CaseBank
from memento.testing import RecordingLearner, capital_tools, make_bank, make_case
from tests.support.reliability.campaign_eval import lookup_tool, make_tasks
from tests.support.reliability.faulty_models import (
    ONE_MB,
    FailingChatModel,
    ScriptedChatModel,
    SlowChatModel,
    bad_json_call,
    faulty_tool,
    plan_reply,
    tool_call,
)

BOUND_S = 60.0
"""No single fault scenario may take longer than this (the graph's own limits are far lower)."""
WRITES = ("add", "update", "upsert", "delete", "modify")


class FailingCollection:
    """The real collection, except that writes raise `OSError(code)` while `failing` is set.

    `after` lets that many writes through first, to fail in the middle of a batched write;
    `times` refuses only that many writes (a disk that frees up), None refuses all.
    """

    def __init__(self, inner: Any, code: int, *, after: int = 0, times: int | None = None) -> None:
        self._inner, self.code, self.after, self.times = inner, code, after, times
        self.failing, self.refused = True, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.failing and self.after <= 0:
                self.refused += 1
                self.failing = self.times is None or self.refused < self.times
                raise OSError(self.code, os.strerror(self.code))
            self.after -= 1
            return attr(*args, **kwargs)

        return write


def break_store(
    bank: CaseBank, code: int, *, after: int = 0, times: int | None = None
) -> FailingCollection:
    """Make `bank`'s writes fail like a full disk (ENOSPC) or a read-only store (EROFS)."""
    failing = FailingCollection(bank.collection, code, after=after, times=times)
    bank._collection = failing  # noqa: SLF001 - the one seam between the bank and Chroma
    return failing


def contents(bank: CaseBank) -> list[dict[str, Any]]:
    """Every case with every field, for before/after comparisons."""
    return [c.model_dump() for c in bank.list()]


def seeded_bank(path: Path) -> CaseBank:
    bank = make_bank(path, dedup_threshold=None)
    bank.add_cases([make_case("What is the code word of item 100?", namespace="eval-similarity"),
                    make_case("Unrelated seeded case", label="negative")])  # fmt: skip
    return bank


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
async def test_store_failure_during_case_writes_is_recorded_and_loses_nothing(
    tmp_path: Path, code: int
) -> None:
    bank = seeded_bank(tmp_path / "chroma")
    before = contents(bank)
    failing = break_store(bank, code)
    tasks = make_tasks(4)
    config = EvalConfig(memory="similarity", out=tmp_path / "run", concurrency=2,
                        context=Context(reward_metric="pm", k=2))  # fmt: skip
    kw: dict[str, Any] = {"planner": "offline", "executor": "offline", "tools": [lookup_tool()],
                          "case_bank": bank, "progress": False}  # fmt: skip
    first = await asyncio.wait_for(run_eval(tasks, config, **kw), BOUND_S)
    rows = read_results(tmp_path / "run")
    assert first.epochs[0].errors == 4 and len(rows) == 4 and failing.refused >= 4
    assert all(r.error and os.strerror(code) in r.error for r in rows)
    assert all(r.case_written is None for r in rows)
    assert contents(bank) == before  # nothing half-written

    failing.failing = False  # space freed / store writable again: the failed writes resume
    second = await asyncio.wait_for(run_eval(tasks, config, **kw), BOUND_S)
    assert second.ran == 4 and second.epochs[0].errors == 0
    good = [r for r in read_results(tmp_path / "run") if r.error is None]
    assert sorted(r.task_id for r in good) == [t.task_id for t in tasks]
    written = {c.id for c in bank.list(namespace="eval-similarity") if c.source == "memento-run"}
    assert written == {r.case_written for r in good} and len(written) == 4
    assert bank.count() == len(before) + 4


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_store_failure_in_the_middle_of_a_batched_write_rolls_back(
    tmp_path: Path, code: int
) -> None:
    bank = seeded_bank(tmp_path / "chroma")
    bank.batch_size = 2
    before = contents(bank)
    new = [make_case(f"Batch case {i} about item {i}") for i in range(5)]
    # The first chunk lands, the second fails once; the rollback's deletes then succeed.
    failing = break_store(bank, code, after=1, times=1)
    with pytest.raises(OSError) as info:
        bank.add_cases(new)
    assert info.value.errno == code and failing.refused == 1
    assert contents(bank) == before
    assert bank.add_cases(new) == [c.id for c in new] and bank.count() == len(before) + 5


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_store_failure_while_merging_into_a_near_twin_restores_it(
    tmp_path: Path, code: int
) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=0.9)
    bank.add("What is the code word of item 7?", {"plan": [{"id": 1, "description": "Look."}]},
             reward=1.0, case_id="twin")  # fmt: skip
    before = contents(bank)
    break_store(bank, code)
    with pytest.raises(OSError):
        bank.add("What is the code word of item 7 ?", {"plan": [{"id": 1, "description": "Go."}]},
                 reward=0.0, case_id="copy")  # fmt: skip
    assert contents(bank) == before and bank.resolve("copy") is None


# -- models and tools ----------------------------------------------------------------------


async def run_one(tmp_path: Path, **parts: Any) -> tuple[ResultRow, dict[str, Any], CaseBank]:
    """One task through the graph with the given planner/executor/tools; its row and state."""
    bank = make_bank(tmp_path / "chroma")
    graph = build_graph(
        checkpointer=InMemorySaver(),
        planner=parts.get("planner", "offline"),
        executor=parts.get("executor", "offline"),
        tools=parts.get("tools", capital_tools()),
        case_bank=bank,
        learner=RecordingLearner(),
    )
    task = Task(task_id="france", question="What is the capital of France?",
                ground_truth=["Paris"], data_source="faults", line=1)  # fmt: skip
    ctx = Context(reward_metric="pm", model_timeout_s=0.5, tool_timeout_s=0.5, max_cycles=1)
    row = await asyncio.wait_for(
        run_task(graph, task, memory="similarity", epoch=1, ctx=ctx, metric="deepresearcher"),
        BOUND_S,
    )
    state = await graph.aget_state({"configurable": {"thread_id": row.thread_id}})
    return row, dict(state.values), bank


def named(*cases: tuple[Any, ...]) -> list[Any]:
    """Parametrize cases whose first value is the scenario's name, used as its test id."""
    return [pytest.param(*case, id=str(case[0])) for case in cases]


def extra(row: ResultRow, key: str) -> Any:
    """A field the runner adds to each row beyond the schema (status, failure, rewarded)."""
    return (row.model_extra or {}).get(key)


def assert_recorded(row: ResultRow, bank: CaseBank) -> None:
    """A finished task: no crash, a row with a reward, the case written once."""
    assert row.error is None and extra(row, "rewarded") is True and row.reward == 0.0
    assert [c.id for c in bank.list()] == [row.case_written]


def first_subtask(state: dict[str, Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = state["subtask_results"]
    return results[0]


def assert_no_outcome(row: ResultRow, bank: CaseBank, error: str) -> None:
    """An outage: a row with `error` naming the failed call, no reward, no case."""
    assert row.error is not None and error in row.error, row.error
    assert extra(row, "rewarded") is False and row.case_written is None
    assert bank.list() == []


@pytest.mark.parametrize(
    ("name", "model", "role", "error"),
    named(
        ("planner times out", FailingChatModel, "planner", "TimeoutError: Request timed out"),
        ("planner hangs", SlowChatModel, "planner", "TimeoutError: no reply within 0.5 s"),
        ("executor times out", FailingChatModel, "executor", "TimeoutError: Request timed out"),
        ("executor hangs", SlowChatModel, "executor", "TimeoutError: no reply within 0.5 s"),
    ),
)
async def test_a_failed_model_call_is_an_error_row_not_an_outcome(
    tmp_path: Path, name: str, model: Any, role: str, error: str
) -> None:
    row, state, bank = await run_one(tmp_path, **{role: model()})
    assert_no_outcome(row, bank, f"{role} model call failed")
    assert error in (row.error or "") and state.get("reward") is None


@pytest.mark.parametrize(
    ("name", "planner", "failure"),
    named(
        ("empty", lambda: ScriptedChatModel(replies=[AIMessage("")]), "no JSON object"),
        ("1 MB", lambda: ScriptedChatModel(replies=[AIMessage("y" * ONE_MB)]), "no JSON"),
    ),
)
async def test_faulty_planner_ends_in_a_recorded_failure(
    tmp_path: Path, name: str, planner: Any, failure: str
) -> None:
    row, state, bank = await run_one(tmp_path, planner=planner())
    assert_recorded(row, bank)
    assert extra(row, "status") == "failed" and failure in extra(row, "failure")
    assert all(len(raw) < 25_000 for raw in state["planner_raw"])  # 1 MB is cut, not stored


@pytest.mark.parametrize(
    ("name", "executor", "ok", "result"),
    named(
        ("empty", lambda: ScriptedChatModel(replies=[AIMessage("")]), False, "(empty result)"),
        ("1 MB", lambda: ScriptedChatModel(replies=[AIMessage("z" * ONE_MB)]), True, "[... cut"),
        (
            "bad JSON arguments forever",
            lambda: ScriptedChatModel(replies=[bad_json_call("corpus_search", "{query: ")]),
            False,
            "step limit reached",
        ),
        (
            "tool calls forever",
            lambda: ScriptedChatModel(replies=[tool_call("corpus_search", {"query": "france"})]),
            False,
            "step limit reached",
        ),
    ),  # fmt: skip
)
async def test_faulty_executor_ends_the_subtask_with_a_recorded_result(
    tmp_path: Path, name: str, executor: Any, ok: bool, result: str
) -> None:
    row, state, bank = await run_one(tmp_path, executor=executor())
    assert_recorded(row, bank)
    sub = first_subtask(state)
    assert sub["ok"] is ok and result in sub["result"] and len(sub["result"]) < 25_000


def tool_errors(model: ScriptedChatModel) -> list[str]:
    """Texts of the error results the executor model was shown."""
    messages: list[BaseMessage] = model.seen[-1]
    return [m.text for m in messages if isinstance(m, ToolMessage) and m.status == "error"]


@pytest.mark.parametrize(
    ("name", "call", "error"),
    named(
        ("unknown tool", tool_call("delete_everything", {"query": "x"}), "is not a valid tool"),
        ("arguments not JSON", bad_json_call("corpus_search", "{query: "), "not valid JSON"),
        ("missing arguments", tool_call("corpus_search", {}), "query"),
        ("wrong argument type", tool_call("corpus_search", {"query": {"a": 1}}), "query"),
    ),
)
async def test_invalid_tool_calls_are_answered_with_an_error_the_model_sees(
    tmp_path: Path, name: str, call: AIMessage, error: str
) -> None:
    executor = ScriptedChatModel(replies=[call, AIMessage("could not look it up")])
    row, state, bank = await run_one(tmp_path, executor=executor)
    assert_recorded(row, bank)
    assert executor.calls == 2 and any(error in text for text in tool_errors(executor))
    assert first_subtask(state)["tool_calls"] == [
        {"name": c["name"], "args": c["args"]} for c in call.tool_calls
    ]


async def _hangs(query: str) -> str:
    """Look something up (never answers)."""
    await asyncio.sleep(3600)
    return "late"


@pytest.mark.parametrize(
    ("kind", "seen"),
    named(
        ("timeout", "backend did not answer"),
        ("hangs", "no answer within 0.5 s"),
        ("huge", "x" * 100),
        ("empty", ""),
    ),  # fmt: skip
)
async def test_faulty_tool_output_reaches_the_model_as_a_result(
    tmp_path: Path, kind: str, seen: str
) -> None:
    from langchain_core.tools import StructuredTool

    tool = (
        StructuredTool.from_function(coroutine=_hangs, name="lookup")
        if kind == "hangs"
        else faulty_tool(kind)
    )
    executor = ScriptedChatModel(replies=[tool_call("lookup", {"query": "France"}),
                                          AIMessage("done")])  # fmt: skip
    row, state, bank = await run_one(tmp_path, executor=executor, tools=[tool])
    assert_recorded(row, bank)
    shown = [m for m in executor.seen[-1] if isinstance(m, ToolMessage)]
    assert len(shown) == 1 and seen in shown[0].text
    assert first_subtask(state)["ok"] is True


async def test_a_plan_whose_executor_call_fails_stops_without_a_case(tmp_path: Path) -> None:
    planner = ScriptedChatModel(replies=[plan_reply("look it up", "check it"),
                                         AIMessage('{"answer": "unknown"}')])  # fmt: skip
    row, state, bank = await run_one(tmp_path, planner=planner, executor=FailingChatModel())
    assert_no_outcome(row, bank, "executor model call failed")
    assert state.get("subtask_results", []) == []  # an outage is no subtask result
    assert state["plan"] is not None and planner.calls == 1  # the plan stays, for the re-run


def test_a_rollback_that_fails_too_names_the_cases_left_behind(tmp_path: Path) -> None:
    bank = seeded_bank(tmp_path / "chroma")
    bank.batch_size = 2
    new = [make_case(f"Batch case {i} about item {i}") for i in range(5)]
    # The first chunk lands, then the disk stays full: the rollback's deletes fail as well.
    break_store(bank, errno.ENOSPC, after=1)
    from memento.memory.writer import PartialWriteError

    with pytest.raises(PartialWriteError) as info:
        bank.add_cases(new)
    left = [c.id for c in new[:2]]
    assert info.value.added == left
    assert all(cid in str(info.value) for cid in left) and "No space left" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
