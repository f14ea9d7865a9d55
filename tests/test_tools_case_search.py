"""case_search: past cases for a subtask, as a LangChain tool, from the registry and mid-run."""

from __future__ import annotations

from pathlib import Path

from langchain.agents import create_agent
from langchain_core.messages import ToolMessage

from memento.memory.case_bank import CaseBank
from memento.memory.q.selector import QSelector
from memento.memory.similarity import SimilaritySelector
from memento.testing import HashEmbeddings, make_case
from memento.testing.agent import ToolCallingModel
from memento.tools.case_search import NO_CASES, build_case_search, open_selector
from memento.tools.config import CaseSearchConfig, ToolsConfig
from memento.tools.registry import available_tools, find_tool, load_tools


def _bank(path: Path) -> CaseBank:
    bank = CaseBank(path=path, embeddings=HashEmbeddings(32), dedup_threshold=None)
    bank.add_cases([
        make_case("Convert 30 degrees Celsius to Fahrenheit", case_id="temp",
                  steps=("Multiply by 9/5.", "Add 32.")),
        make_case("Find the capital city of Australia", case_id="capital", label="negative",
                  steps=("Guess Sydney.",)),
        make_case("Convert 5 miles to kilometres", case_id="other-ns", namespace="work"),
    ])  # fmt: skip
    return bank


def test_tool_shows_cases_with_label_plan_and_score(tmp_path: Path) -> None:
    tool = build_case_search(SimilaritySelector(_bank(tmp_path / "chroma")), k=2)
    out = tool.invoke({"query": "Convert 100 degrees Celsius to Fahrenheit"})
    first = out.split("</case>")[0]
    assert '<case id="temp" label="positive" reward="1.00"' in first
    assert "1. Multiply by 9/5.\n2. Add 32." in first
    assert out.count("<case ") == 2
    assert tool.name == "case_search" and set(tool.args) == {"query"}


async def test_namespace_limit_and_async(tmp_path: Path) -> None:
    selector = SimilaritySelector(_bank(tmp_path / "chroma"))
    tool = build_case_search(selector, k=3, namespace="work")
    out = await tool.ainvoke({"query": "Convert miles"})
    assert out.count("<case ") == 1 and 'id="other-ns"' in out
    empty = build_case_search(selector, namespace="nobody")
    assert empty.invoke({"query": "anything"}) == NO_CASES
    short = build_case_search(selector, k=3, max_chars=200)
    assert "truncated" in short.invoke({"query": "Convert degrees"})


def test_registry_builds_it_lazily_over_the_configured_store(tmp_path: Path) -> None:
    config = ToolsConfig(case_search=CaseSearchConfig(home=tmp_path, k=1))
    assert "case_search" in {i.name for i in available_tools(config)}
    (tool,) = load_tools(["case_search"], config)
    assert find_tool("case_search", config).name == tool.name == "case_search"
    assert not (tmp_path / "chroma").exists()  # building and listing opened nothing
    selector = open_selector(config.case_search)  # what the tool opens on its first call
    assert isinstance(selector, SimilaritySelector)
    assert selector.bank.location == str(tmp_path / "chroma")
    q = open_selector(CaseSearchConfig(home=tmp_path, policy="q"))
    assert isinstance(q, QSelector) and q.name == "q"


def test_an_agent_looks_cases_up_mid_run(tmp_path: Path) -> None:
    tool = build_case_search(SimilaritySelector(_bank(tmp_path / "chroma")), k=1)
    agent = create_agent(ToolCallingModel(), [tool])
    out = agent.invoke({"messages": [("user", "Convert 12 degrees Celsius to Fahrenheit")]})
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.name == "case_search" and 'id="temp"' in result.text
    assert "Add 32." in out["messages"][-1].text


async def test_memento_executor_uses_it_behind_the_context_switch(tmp_path: Path) -> None:
    from memento.graphs import Context, build_graph
    from memento.testing import RecordingLearner

    bank = _bank(tmp_path / "chroma")
    graph = build_graph(
        planner="offline", executor="offline", case_bank=bank, learner=RecordingLearner()
    )
    ctx = Context(tools="case_search", k=1, learn=False, home=str(tmp_path), max_cycles=1)
    out = await graph.ainvoke({"task": "Convert 40 degrees Celsius to Fahrenheit"}, context=ctx)
    calls = [c for r in out["subtask_results"] for c in r["tool_calls"]]
    assert calls and {c["name"] for c in calls} == {"case_search"}
    assert any("Add 32." in r["result"] for r in out["subtask_results"])


def test_the_middleware_can_hand_the_agent_case_search(tmp_path: Path) -> None:
    from memento.middleware import MementoMiddleware

    bank = _bank(tmp_path / "chroma")
    memory = MementoMiddleware(case_bank=bank, home=tmp_path, learn=False, case_search=True)
    agent = create_agent(ToolCallingModel(), [], middleware=[memory])
    out = agent.invoke({"messages": [("user", "Convert 3 miles to kilometres")]})
    (result,) = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert result.name == "case_search" and "<case " in result.text
    assert MementoMiddleware(case_bank=bank, home=tmp_path).tools == []
