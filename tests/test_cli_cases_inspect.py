"""`memento cases show` and `memento cases top` over a store that agent runs filled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.case_bank import CaseBank
from memento.memory.q.kernel import KernelLearner
from memento.middleware import MementoMiddleware
from memento.settings import get_settings
from memento.testing import HashEmbeddings, make_case
from memento.testing.agent import ToolCallingModel

runner = CliRunner()


@tool
def lookup(query: str) -> str:
    """Look a fact up."""
    return f"notes on: {query}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A store where three q-mode agent runs were shown the seeded case and succeeded."""
    home = tmp_path / "home"
    monkeypatch.setenv("MEMENTO_HOME", str(home))
    monkeypatch.delenv("MEMENTO_CHROMA_URL", raising=False)
    monkeypatch.delenv("MEMENTO_Q_SHARE", raising=False)
    get_settings.cache_clear()  # the commands read these settings
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    bank = CaseBank(path=home / "chroma", embeddings=HashEmbeddings(), dedup_threshold=None)
    bank.add_cases([
        make_case("Who wrote the novel Dune?", case_id="seed", steps=("Search.", "Answer.")),
        make_case("Boil an egg", case_id="egg", label="negative"),
    ])  # fmt: skip
    memory = MementoMiddleware(
        case_bank=bank, home=home, selection="q", k=1, positive=1, negative=0,
        reward=lambda state: 1.0,
    )  # fmt: skip
    agent = create_agent(ToolCallingModel(), [lookup], middleware=[memory])
    for title in ("Emma", "Dracula", "Ulysses"):
        agent.invoke({"messages": [("user", f"Who wrote the novel {title} {title}?")]})
    learner = memory.learner
    assert isinstance(learner, KernelLearner)  # the default Q form
    learner.flush()  # the bank's usage counters are applied off the run's path
    yield home
    get_settings.cache_clear()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, ["cases", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_show_gives_counters_use_reward_history_and_q(home: Path) -> None:
    info = _json(["show", "seed", "--query", "Who wrote the novel Dune?"])
    assert info["task"] == "Who wrote the novel Dune?"
    assert info["plan"] == ["Search.", "Answer."]
    assert (info["label"], info["reward"]) == ("positive", 1.0)
    shown = info["times_retrieved"]
    assert shown >= 1 and info["times_helpful"] == shown  # every run had reward 1
    assert info["used"] == 0 and info["used_unreported"] == shown  # agents report no use
    assert [h["reward"] for h in info["reward_history"]] == [1.0] * shown
    assert isinstance(info["q"], float) and info["similarity"] == pytest.approx(1.0)
    text = runner.invoke(app, ["cases", "show", "seed"])
    assert text.exit_code == 0 and f"shown {shown}, used 0" in text.stdout
    missing = runner.invoke(app, ["cases", "show", "nope"])
    assert missing.exit_code == 1 and "no case" in missing.output


def test_top_by_each_measure(home: Path) -> None:
    by_q = _json(["top", "--by", "q"])  # averaged over the recorded tasks
    assert {r["id"] for r in by_q} >= {"seed", "egg"}
    values = [r["q"] for r in by_q]
    assert values == sorted(values, reverse=True)
    helped = _json(["top", "--by", "helped", "--limit", "1"])
    assert helped[0]["id"] == "seed" and helped[0]["helped"] >= 1
    assert _json(["top", "--by", "reward", "-l", "10"])[-1]["id"] == "egg"
    used = _json(["top", "--by", "used"])
    assert all(r["used"] == 0 for r in used)
    bad = runner.invoke(app, ["cases", "top", "--by", "age"])
    assert bad.exit_code == 2 and "--by must be" in bad.output


def test_memento_feedback_agent_settles_a_pending_agent_run(home: Path) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    bank = CaseBank(path=home / "chroma", embeddings=HashEmbeddings(), dedup_threshold=None)
    memory = MementoMiddleware(case_bank=bank, home=home)  # no reward: the run waits
    agent = create_agent(
        ToolCallingModel(), [lookup], middleware=[memory], checkpointer=InMemorySaver()
    )
    agent.invoke(
        {"messages": [("user", "Who wrote Emma?")]}, {"configurable": {"thread_id": "later"}}
    )
    assert bank.get("agent:default:later") is None
    args = ["feedback", "later", "--reward", "0", "--agent", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["case_id"] == "agent:default:later"
    case = bank.get("agent:default:later")
    assert case is not None and case.label == "negative"
    unknown = runner.invoke(app, ["feedback", "nobody", "--reward", "1", "--agent"])
    assert unknown.exit_code == 1 and "no agent run" in unknown.output
