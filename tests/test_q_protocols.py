"""One learner interface, and a run decided by its Context alone (issue 14, items 1 and 4)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from memento.graphs import Context, build_graph
from memento.graphs.deps import Deps
from memento.graphs.models import load_chat_model
from memento.memory.learning import Learner, NullLearner, UpdateReport
from memento.memory.q.kernel import KernelLearner
from memento.memory.q.learner import QLearner
from memento.memory.q.share import QWorker, open_share
from memento.memory.selection import CaseSelector
from memento.testing import RecordingLearner, capital_tools, make_bank
from tests.support.q import toy_bank, toy_config


def test_every_learner_satisfies_the_learner_protocol(tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    learners: list[Any] = [
        QLearner(bank, tmp_path / "q", toy_config()),
        QWorker(bank, open_share(tmp_path / "share", bank), toy_config()),
        NullLearner(bank),
        RecordingLearner(bank),
    ]
    for learner in learners:
        name = type(learner).__name__
        assert isinstance(learner, Learner), name
        report = learner.record("a task", [good[0]], None, 1.0, namespace="default", key=name)
        assert isinstance(report, UpdateReport), name
        assert isinstance(report.as_dict(), dict)
        assert isinstance(learner.selector(greedy=True, temperature=0.1), CaseSelector), name
        learner.close()
    # What the real learners were given outlives them; the null one says why it kept nothing.
    assert QLearner(bank, tmp_path / "q", toy_config()).replay.find_key("QLearner") is not None
    assert open_share(tmp_path / "share", bank).log.count() == 1
    assert NullLearner().record("t", ["x"], None, 1.0).skipped


def test_an_object_without_the_whole_interface_is_not_a_learner() -> None:
    class RecordOnly:
        def record(self, *args: Any, **kwargs: Any) -> UpdateReport:
            return UpdateReport()

    assert not isinstance(RecordOnly(), Learner)
    with pytest.raises(LookupError):
        NullLearner().selector()


def test_the_context_decides_which_policies_train_q(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma")
    deps = Deps(case_bank=bank)
    home = str(tmp_path / "home")
    trains = deps.q_learner(Context(selection="similarity", home=home, q_share=""))
    assert isinstance(trains, KernelLearner)  # `memento run`: similarity runs log for the kernel
    evaluation = Context(selection="similarity", q_train="q,q_softmax", home=home, q_share="")
    assert isinstance(deps.q_learner(evaluation), NullLearner)  # `memento eval`'s similarity
    form = deps.q_learner(
        Context(selection="q", home=str(tmp_path / "other"), q_share="", q_form="residual",
                q_lr=0.05, q_seed=3)
    )  # fmt: skip
    assert isinstance(form, QLearner)
    assert (form.network.config.form, form.network.config.lr, form.network.config.seed) == (
        "residual", 0.05, 3,
    )  # fmt: skip
    with pytest.raises(ValueError, match="q_form='mlp'"):  # sharing needs a network form
        deps.q_learner(Context(selection="q", home=str(tmp_path / "s"), q_share=str(tmp_path)))


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("settings were read during the run")


async def test_a_run_with_a_full_context_reads_no_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = make_bank(tmp_path / "chroma")
    bank.add(
        "What is the capital of Japan?",
        {"plan": [{"id": 1, "description": "Search the capital of the country"}]},
        reward=1.0,
    )
    offline = load_chat_model("offline")  # model loading reads provider keys: done beforehand
    ctx = Context(
        k=4, reward_metric="pm", selection="q", home=str(tmp_path / "home"), q_share="",
        judge_model="", chroma_url="",
    )  # fmt: skip
    graph = build_graph(
        checkpointer=InMemorySaver(),
        planner=offline,
        executor=offline,
        tools=capital_tools(),
        case_bank=bank,
    )
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("memento") and hasattr(module, "get_settings"):
            monkeypatch.setattr(module, "get_settings", _refuse)
    out = await graph.ainvoke(
        {"task": "What is the capital of France?", "ground_truth": ["Paris"]},
        {"configurable": {"thread_id": "t1"}},
        context=ctx,
    )
    assert out["status"] == "answered" and out["reward"] == 1.0
    assert out["q_update"]["transition_id"]  # the Q learner the context describes trained
    assert (tmp_path / "home" / "q" / "replay.sqlite").is_file()
