"""The M-MDP graph end to end with the offline stand-in model, in-memory checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from memento.graphs import Context, build_graph
from memento.graphs.feedback import FeedbackError, give_feedback
from memento.graphs.offline_model import OFFLINE_NOTE
from memento.memory.case_bank import CaseBank
from memento.testing import RecordingLearner, capital_tools, make_bank


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.fixture
def bank(tmp_path: Path) -> CaseBank:
    return make_bank(tmp_path / "chroma")


def offline_graph(bank: CaseBank, learner: Any = None, **kw: Any) -> Any:
    options: dict[str, Any] = {"planner": "offline", "executor": "offline", **kw}
    return build_graph(
        checkpointer=InMemorySaver(),
        tools=capital_tools(),
        case_bank=bank,
        learner=learner or RecordingLearner(),
        **options,
    )


async def test_full_run_answers_writes_one_case_and_updates_q(bank: CaseBank) -> None:
    learner = RecordingLearner()
    graph = offline_graph(bank, learner)
    seed_id = bank.add(
        "What is the capital of Japan?",
        {"plan": [{"id": 1, "description": "Search the capital of the country"}]},
        reward=1.0,
    )
    out = await graph.ainvoke(
        {"task": "What is the capital of France?", "ground_truth": ["Paris"]},
        cfg("t1"),
        context=Context(k=4),
    )
    assert out["status"] == "answered"
    assert "Paris" in out["answer"]
    assert out["model_note"] == OFFLINE_NOTE
    assert out["reward"] == 0.0  # EM: the stand-in answers with the whole sentence
    assert out["judgement"]["pm"] == 1.0
    assert [c["id"] for c in out["retrieved"]] == [seed_id]
    assert out["case_id"] == "run:default:t1"
    assert bank.count() == 2
    stored = bank.get("run:default:t1")
    assert stored is not None and stored.label == "negative"
    assert learner.calls and learner.calls[0]["shown"] == [seed_id]
    assert learner.calls[0]["key"] == "run:default:t1"
    assert learner.calls[0]["shown_labels"] == ["positive"]  # as the planner was shown it


async def test_second_run_sees_first_runs_case(bank: CaseBank) -> None:
    graph = offline_graph(bank)
    ctx = Context(k=4, reward_metric="pm")
    first = await graph.ainvoke(
        {"task": "What is the capital of Peru?", "ground_truth": "Lima"}, cfg("a"), context=ctx
    )
    assert first["reward"] == 1.0 and first["case_id"]
    second = await graph.ainvoke(
        {"task": "What is the capital of Peru, the country?"}, cfg("b"), context=ctx
    )
    assert first["case_id"] in [c["id"] for c in second["retrieved"]]
    # The stand-in follows the close positive case and says so for Q credit.
    assert first["case_id"] in (await graph.aget_state(cfg("b"))).values["used_case_ids"]


async def test_negative_cases_reach_prompt_under_their_heading(bank: CaseBank) -> None:
    bank.add(
        "What is the capital of Japan?",
        {"plan": [{"id": 1, "description": "Guess wildly"}]},
        reward=0.0,
    )
    bank.add(
        "What is the capital of Japan now?",
        {"plan": [{"id": 1, "description": "Look it up"}]},
        reward=1.0,
    )
    seen: list[str] = []

    class Spy(GenericFakeChatModel):
        def _generate(self, messages: Any, *a: Any, **k: Any) -> Any:
            seen.append(messages[-1].text)
            return super()._generate(messages, *a, **k)

    planner = Spy(messages=iter([AIMessage('{"answer": "Tokyo"}')]))
    graph = offline_graph(bank, planner=planner)
    out = await graph.ainvoke({"task": "Capital of Japan?"}, cfg("n"), context=Context(k=4))
    assert out["answer"] == "Tokyo"
    prompt = seen[0]
    pos = prompt[prompt.index("<positive_cases>") : prompt.index("</positive_cases>")]
    neg = prompt[prompt.index("<negative_cases>") : prompt.index("</negative_cases>")]
    assert "Look it up" in pos and "Guess wildly" not in pos
    assert "Guess wildly" in neg and "Look it up" not in neg


async def test_malformed_plan_is_repaired(bank: CaseBank) -> None:
    planner = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage("Sure! Here is my plan: step one, search."),
                AIMessage('{"plan": []}'),
                AIMessage('```json\n{"answer": "Lima"}\n```'),
            ]
        )
    )
    graph = offline_graph(bank, planner=planner)
    out = await graph.ainvoke(
        {"task": "Capital of Peru?", "ground_truth": "Lima"},
        cfg("r"),
        context=Context(selection="none", plan_retries=2),
    )
    assert out["status"] == "answered" and out["answer"] == "Lima" and out["reward"] == 1.0
    raws = (await graph.aget_state(cfg("r"))).values["planner_raw"]
    assert len(raws) == 3


async def test_malformed_plan_fails_cleanly_after_retries(bank: CaseBank) -> None:
    planner = GenericFakeChatModel(messages=iter([AIMessage("not json")] * 5))
    graph = offline_graph(bank, planner=planner)
    out = await graph.ainvoke(
        {"task": "Capital of Peru?", "ground_truth": "Lima"},
        cfg("f"),
        context=Context(selection="none", plan_retries=1),
    )
    assert out["status"] == "failed" and out["answer"] is None
    assert out["reward"] == 0.0 and "no JSON object" in out["failure"]
    values = (await graph.aget_state(cfg("f"))).values
    assert values["planner_raw"] == ["not json", "not json"]
    stored = bank.get(out["case_id"])
    assert stored is not None and stored.label == "negative"


async def test_executor_step_limit_is_a_recorded_failure(bank: CaseBank) -> None:
    class ToolFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kw: Any) -> Any:
            return self

    looping = ToolFake(
        messages=iter(
            [
                AIMessage(
                    "",
                    tool_calls=[{"name": "corpus_search", "args": {"query": "x"}, "id": f"c{i}"}],
                )
                for i in range(10)
            ]
        )
    )
    graph = offline_graph(bank, executor=looping)
    out = await graph.ainvoke(
        {"task": "Capital of Peru?"},
        cfg("s"),
        context=Context(selection="none", max_executor_steps=3, max_cycles=1),
    )
    results = out["subtask_results"]
    assert results and results[0]["ok"] is False and "step limit" in results[0]["result"]
    assert len(results[0]["tool_calls"]) == 3  # 3 model calls, each asked for a tool; then stop


async def test_delayed_feedback_relabels_the_case(bank: CaseBank) -> None:
    learner = RecordingLearner()
    graph = offline_graph(bank, learner)
    bank.add(
        "What is the capital of Japan?", {"plan": [{"id": 1, "description": "Look"}]}, reward=1.0
    )
    out = await graph.ainvoke(
        {"task": "What is the capital of France?"}, cfg("fb"), context=Context()
    )
    assert out["reward"] is None and out["case_id"] is None  # no ground truth, no judge
    values = await give_feedback(graph, "fb", 1.0, context=Context())
    assert values["reward"] == 1.0 and values["case_id"] == "run:default:fb"
    case = bank.get("run:default:fb")
    assert case is not None and case.label == "positive"
    values = await give_feedback(graph, "fb", 0.0, context=Context())
    case = bank.get("run:default:fb")
    assert case is not None and case.label == "negative" and case.reward == 0.0
    assert bank.count() == 2
    assert [c["reward"] for c in learner.calls] == [1.0, 0.0]
    with pytest.raises(FeedbackError):
        await give_feedback(graph, "nope", 1.0)
    with pytest.raises(FeedbackError):
        await give_feedback(graph, "fb", 2.0)


async def test_state_is_json_serialisable_and_secret_free(
    bank: CaseBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-abcdefgh123")
    graph = offline_graph(bank)
    await graph.ainvoke(
        {"task": "Capital of France?", "ground_truth": "Paris"}, cfg("j"), context=Context()
    )
    values = (await graph.aget_state(cfg("j"))).values
    text = json.dumps(values)
    assert "SECRET" not in text


async def test_graph_composes_into_a_parent_graph(bank: CaseBank) -> None:
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class Parent(TypedDict, total=False):
        task: str
        answer: str | None
        shout: str

    def shout(state: Parent) -> dict[str, str]:
        return {"shout": (state.get("answer") or "").upper()}

    child = build_graph(
        planner="offline",
        executor="offline",
        tools=capital_tools(),
        case_bank=bank,
        learner=RecordingLearner(),
    )
    parent = StateGraph(Parent, context_schema=Context)
    parent.add_node("memento", child)
    parent.add_node("shout", shout)
    parent.add_edge(START, "memento")
    parent.add_edge("memento", "shout")
    parent.add_edge("shout", END)
    out = await parent.compile(checkpointer=InMemorySaver()).ainvoke(
        {"task": "What is the capital of Japan?"}, cfg("p"), context=Context(selection="none")
    )
    assert "TOKYO" in out["shout"]


async def test_multi_step_plan_keeps_every_subtask_result(bank: CaseBank) -> None:
    seen: list[str] = []

    class Spy(GenericFakeChatModel):
        def _generate(self, messages: Any, *a: Any, **k: Any) -> Any:
            seen.append(messages[-1].text)
            return super()._generate(messages, *a, **k)

    plan = {
        "plan": [
            {"id": i, "description": f"look up {c}"}
            for i, c in enumerate(("france", "japan", "peru"), start=1)
        ]
    }
    planner = Spy(messages=iter([AIMessage(json.dumps(plan)), AIMessage('{"answer": "done"}')]))
    graph = offline_graph(bank, planner=planner)
    out = await graph.ainvoke(
        {"task": "Capitals of three countries?"}, cfg("m"), context=Context(selection="none")
    )
    results = out["subtask_results"]
    assert [r["id"] for r in results] == [1, 2, 3]
    assert [r["result"] for r in results] == [
        "Paris is the capital of France.",
        "Tokyo is the capital of Japan.",
        "Lima is the capital of Peru.",
    ]
    replan_prompt = seen[1]
    for city in ("Paris", "Tokyo", "Lima"):
        assert city in replan_prompt


async def test_feedback_relabels_the_case_a_run_was_merged_into(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=0.9)
    graph = offline_graph(bank)
    twin = bank.add(
        "What is the capital of France?",
        {"plan": [{"id": 1, "description": "x"}]},
        reward=1.0,
        source="seed",
    )
    out = await graph.ainvoke(
        {"task": "What is the capital of France?", "ground_truth": "Rome"},
        cfg("dup"),
        context=Context(selection="none"),
    )
    assert out["case_id"] == twin and bank.count() == 1
    values = await give_feedback(graph, "dup", 1.0, context=Context(selection="none"))
    assert values["case_id"] == twin
    case = bank.get(twin)
    assert case is not None and case.reward == 1.0 and bank.count() == 1


async def test_real_q_learner_run_then_feedback_moves_q(tmp_path: Path) -> None:
    from memento.memory.q.config import LearnerConfig
    from memento.memory.q.learner import QLearner
    from memento.memory.q.network import QConfig
    from memento.memory.q.selector import q_scores

    bank = make_bank(tmp_path / "chroma", dedup_threshold=None)
    learner = QLearner(
        bank, tmp_path / "q", QConfig(dim=64, lr=5e-2, seed=0), LearnerConfig(steps_per_record=20)
    )
    graph = offline_graph(bank, learner)
    seed_id = bank.add(
        "What is the capital of Japan?",
        {"plan": [{"id": 1, "description": "Look up the capital"}]},
        reward=1.0,
    )
    ctx = Context(selection="q", k=2)
    task = "What is the capital of Japan, exactly?"
    out = await graph.ainvoke({"task": task}, cfg("q1"), context=ctx)
    assert [c["id"] for c in out["retrieved"]] == [seed_id]
    assert out["reward"] is None  # no ground truth, no judge: nothing learned yet
    assert len(learner.replay) == 0

    def q_of_seed() -> float:
        return float(q_scores(learner.network, bank.embed_query(task), bank.vectors([seed_id]))[0])

    before = q_of_seed()
    values = await give_feedback(graph, "q1", 0.0, context=ctx)
    assert values["q_update"]["transition_id"] and len(learner.replay) == 1
    low = q_of_seed()
    values = await give_feedback(graph, "q1", 1.0, context=ctx)
    assert len(learner.replay) == 1  # relabelled, not stored twice
    high = q_of_seed()
    assert low < before < high
    case = bank.get(values["case_id"])
    assert case is not None and case.label == "positive"
    seed = bank.get(seed_id)
    assert seed is not None and seed.times_retrieved >= 1
