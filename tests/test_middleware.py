"""MementoMiddleware through the real `create_agent` machinery, with a scripted tool-calling model.

What an agent gains: the second of two similar tasks sees the first one's case in its system
message; a run is written once per thread (a resumed or replayed thread included) and never on
an infrastructure failure; feedback completes or relabels it; Q mode learns which case helps;
selection 'none' changes nothing the model sees; the async twins do the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from memento.graphs.feedback import FeedbackError
from memento.memory.case_bank import CaseBank
from memento.memory.learning import Learner, UpdateReport
from memento.memory.q.config import LearnerConfig
from memento.memory.q.learner import QLearner
from memento.memory.selection import CaseSelector
from memento.middleware import MementoMiddleware, pending_runs
from memento.testing import HashEmbeddings, make_case
from memento.testing.agent import ModelOutage, ToolCallingModel
from tests.support.q import DIM, toy_config

DUNE = "Who wrote the science fiction novel Dune?"
FOUNDATION = "Who wrote the science fiction novel Foundation?"
SYSTEM = "You are a careful research assistant."


@tool
def lookup(query: str) -> str:
    """Look a fact up."""
    return f"notes on: {query}"


def _bank(tmp_path: Path) -> CaseBank:
    return CaseBank(path=tmp_path / "chroma", embeddings=HashEmbeddings(DIM), dedup_threshold=None)


def _agent(model: ToolCallingModel, memory: MementoMiddleware | None, **kwargs: Any) -> Any:
    middleware = [memory] if memory is not None else []
    return create_agent(model, [lookup], system_prompt=SYSTEM, middleware=middleware, **kwargs)


def _ask(task: str) -> dict[str, Any]:
    return {"messages": [("user", task)]}


def _thread(name: str) -> RunnableConfig:
    return {"configurable": {"thread_id": name}}


def _full_marks(state: Mapping[str, Any]) -> float:
    return 1.0


def test_second_similar_task_sees_the_first_tasks_case(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    memory = MementoMiddleware(case_bank=bank, home=tmp_path, reward=_full_marks)
    model = ToolCallingModel()
    agent = _agent(model, memory, checkpointer=InMemorySaver())
    first = agent.invoke(_ask(DUNE), _thread("t1"))
    assert first["memento_cases"] == []
    assert first["memento_case_id"] == "agent:default:t1"
    assert all("<memory>" not in p for p in model.system_prompts)
    case = bank.get("agent:default:t1")
    assert case is not None and case.task == DUNE and case.label == "positive"
    steps = [s.description for s in case.plan.plan]
    assert steps[0].startswith(
        'Call lookup({"query": "Who wrote the science fiction novel Dune?"})'
    )
    assert steps[-1] == f"Answer: notes on: {DUNE}"

    seen_before = len(model.system_prompts)
    second = agent.invoke(_ask(FOUNDATION), _thread("t2"))
    assert [c["id"] for c in second["memento_cases"]] == ["agent:default:t1"]
    prompts = model.system_prompts[seen_before:]
    assert len(prompts) == 2  # every model call of the run sees the cases
    for prompt in prompts:
        assert prompt.startswith(SYSTEM)  # the agent's own system message is kept
        positives = prompt.split("<positive_cases>")[1].split("</positive_cases>")[0]
        assert '<case id="agent:default:t1">' in positives
        assert f"<case_task>{DUNE}</case_task>" in positives
        assert "Call lookup" in positives
    assert bank.count() == 2


def test_negative_cases_are_shown_as_ones_to_avoid(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    bank.add_cases([make_case(DUNE, label="negative", case_id="bad", steps=("Guess.",))])
    memory = MementoMiddleware(case_bank=bank, home=tmp_path, learn=False)
    model = ToolCallingModel()
    _agent(model, memory).invoke(_ask(FOUNDATION))
    prompt = model.system_prompts[0]
    negatives = prompt.split("<negative_cases>")[1].split("</negative_cases>")[0]
    assert '<case id="bad">' in negatives and "Guess." in negatives
    assert "(none)" in prompt.split("<positive_cases>")[1].split("</positive_cases>")[0]
    assert bank.count() == 1  # learn=False writes nothing


class FailsOnce:
    """A learner that raises on its first record (a kill between the case write and Q)."""

    def __init__(self, inner: Learner) -> None:
        self.inner = inner
        self.failed = False

    def record(self, task: str, shown_ids: Sequence[str], used_ids: Sequence[str] | None,
               reward: float, **kwargs: Any) -> UpdateReport:  # fmt: skip
        if not self.failed:
            self.failed = True
            raise ModelOutage("killed")
        return self.inner.record(task, shown_ids, used_ids, reward, **kwargs)

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> CaseSelector:
        return self.inner.selector(greedy=greedy, temperature=temperature)

    def close(self) -> None:
        self.inner.close()


def test_a_resumed_thread_writes_its_case_once_and_a_failed_model_call_writes_nothing(
    tmp_path: Path,
) -> None:
    bank = _bank(tmp_path)
    bank.add_cases([make_case(DUNE, case_id="dune")])
    learner = QLearner(bank, tmp_path / "q", toy_config())
    flaky = FailsOnce(learner)
    memory = MementoMiddleware(case_bank=bank, learner=flaky, reward=_full_marks)
    model = ToolCallingModel(fail_on_call=2)  # the call after the tool result fails
    agent = _agent(model, memory, checkpointer=InMemorySaver())
    config = _thread("k1")
    with pytest.raises(ModelOutage):
        agent.invoke(_ask(FOUNDATION), config)
    assert bank.count() == 1 and pending_runs(bank) == []  # nothing written
    shown = agent.get_state(config).values["memento_cases"]
    assert [c["id"] for c in shown] == ["dune"]  # checkpointed before the failure

    with pytest.raises(ModelOutage, match="killed"):  # dies after the case, before Q
        agent.invoke(None, config)
    assert bank.get("agent:default:k1") is not None and len(learner.replay) == 0

    done = agent.invoke(None, config)  # resumed once more: after_agent runs again
    assert done["memento_case_id"] == "agent:default:k1"
    assert [c["id"] for c in done["memento_cases"]] == ["dune"]
    assert bank.count() == 2 and len(learner.replay) == 1
    agent.invoke(_ask("And who wrote Hyperion?"), config)  # a later turn of the same thread
    assert bank.count() == 2 and len(learner.replay) == 1
    assert model.system_prompts[-1].count('<case id="dune">') == 1  # same cases as before


def test_feedback_completes_a_pending_run_then_relabels_it(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    bank.add_cases([make_case(DUNE, case_id="dune")])
    learner = QLearner(bank, tmp_path / "q", toy_config())
    memory = MementoMiddleware(case_bank=bank, learner=learner)  # no reward: pending
    agent = _agent(ToolCallingModel(), memory, checkpointer=InMemorySaver())
    out = agent.invoke(_ask(FOUNDATION), _thread("f1"))
    assert out["memento_case_id"] is None and out["memento_reward"] is None
    assert pending_runs(bank) == ["agent:default:f1"] and bank.count() == 1

    assert memory.give_feedback("f1", 0.0) == "agent:default:f1"
    case = bank.get("agent:default:f1")
    assert case is not None and (case.label, case.reward) == ("negative", 0.0)
    assert pending_runs(bank) == [] and len(learner.replay) == 1
    row = learner.replay.find_key("agent:default:f1")
    assert row is not None
    # the pending run kept the label the agent was shown, for the learner
    assert learner.replay.all()[0].shown_labels == ("positive",)

    memory.give_feedback("f1", 1.0)  # a correction relabels the same case and transition
    case = bank.get("agent:default:f1")
    assert case is not None and (case.label, case.reward) == ("positive", 1.0)
    assert bank.count() == 2 and len(learner.replay) == 1
    assert [t.reward for t in learner.replay.all()] == [1.0]
    with pytest.raises(FeedbackError, match="no agent run"):
        memory.give_feedback("never-ran", 1.0)
    with pytest.raises(FeedbackError, match="reward"):
        memory.give_feedback("f1", 1.5)


def test_q_mode_records_transitions_and_ranks_a_helpful_case_up(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    tasks = [f"Who wrote the science fiction novel number {i}?" for i in range(12)]
    # The unhelpful case is the more similar one, so untrained (similarity-like) Q shows it.
    bank.add_cases([
        make_case("Who wrote the science fiction novel?", case_id="close", steps=("Guess.",)),
        make_case("Which author wrote a novel?", case_id="far", steps=("Search the author.",)),
    ])  # fmt: skip
    # the task case side: on 32-d hashed vectors the readings "[CASE] ... [LABEL] positive" of
    # two cases share most of their tokens, and 12 runs do not separate them (the label side's
    # online effect is measured in the simulated world: docs/numbers.md)
    config = toy_config(form="residual", case_side="task")
    learner = QLearner(bank, tmp_path / "q", config, LearnerConfig(steps_per_record=8))
    rank = learner.selector(greedy=True)
    assert [s.case.id for s in rank.select(tasks[0], k=2)] == ["close", "far"]

    def helped(state: Mapping[str, Any]) -> float:
        return 1.0 if [c["id"] for c in state["memento_cases"]] == ["far"] else 0.0

    memory = MementoMiddleware(
        case_bank=bank,
        selection="q",
        k=1,
        positive=1,
        negative=0,
        learner=learner,
        reward=helped,
    )  # the runs' own cases join the bank; failed ones (negative) are never shown
    agent = _agent(ToolCallingModel(), memory)
    shown: list[str] = []
    for task in tasks:
        out = agent.invoke(_ask(task))
        shown += [c["id"] for c in out["memento_cases"]]
    assert len(learner.replay) == len(tasks)  # one transition per run
    assert shown[0] == "close" and "far" in shown, shown
    order = [s.case.id for s in rank.select(tasks[0], k=bank.count())]
    assert order.index("far") < order.index("close"), order
    far = bank.get("far")
    assert far is not None and far.times_helpful >= 1


def test_selection_none_changes_nothing_the_model_sees(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    bank.add_cases([make_case(DUNE, case_id="dune")])
    plain, remembered = ToolCallingModel(), ToolCallingModel()
    without = _agent(plain, None).invoke(_ask(FOUNDATION))
    memory = MementoMiddleware(case_bank=bank, home=tmp_path, selection="none", learn=False)
    with_none = _agent(remembered, memory).invoke(_ask(FOUNDATION))
    assert remembered.system_prompts == plain.system_prompts == [SYSTEM, SYSTEM]
    strip = [(type(m), m.text, getattr(m, "tool_calls", None)) for m in without["messages"]]
    got = [(type(m), m.text, getattr(m, "tool_calls", None)) for m in with_none["messages"]]
    assert [(t, x) for t, x, _ in got] == [(t, x) for t, x, _ in strip]
    assert with_none["memento_cases"] == [] and bank.count() == 1


async def test_async_agent_shows_cases_and_takes_feedback(tmp_path: Path) -> None:
    bank = _bank(tmp_path)
    memory = MementoMiddleware(case_bank=bank, home=tmp_path)
    model = ToolCallingModel()
    agent = _agent(model, memory, checkpointer=InMemorySaver())
    await agent.ainvoke(_ask(DUNE), _thread("a1"))
    assert bank.count() == 0
    assert await memory.agive_feedback("a1", 1.0) == "agent:default:a1"
    out = await agent.ainvoke(_ask(FOUNDATION), _thread("a2"))
    assert [c["id"] for c in out["memento_cases"]] == ["agent:default:a1"]
    assert '<case id="agent:default:a1">' in model.system_prompts[-1]


def test_secrets_in_a_task_never_reach_the_bank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "s3cr3t-value-123")
    bank = _bank(tmp_path)
    memory = MementoMiddleware(case_bank=bank, home=tmp_path, reward=_full_marks)
    _agent(ToolCallingModel(), memory).invoke(_ask("Use key s3cr3t-value-123 to find Dune"))
    (case,) = bank.list()
    assert "s3cr3t" not in case.task and "s3cr3t" not in case.plan.to_json()
    assert "***" in case.task


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="selection"):
        MementoMiddleware(selection="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        MementoMiddleware(k=-1)
