"""The example agent langgraph.json serves: it imports without opening a store and compiles."""

from __future__ import annotations

import json
from pathlib import Path

from langgraph.graph.state import CompiledStateGraph

ROOT = Path(__file__).resolve().parent.parent


def test_langgraph_json_names_the_example_agent() -> None:
    graphs = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert graphs["memento_agent"] == "./memento/middleware/example.py:agent"
    assert (ROOT / "memento/middleware/example.py").is_file()


def test_example_agent_compiles_without_a_checkpointer_and_opens_no_store() -> None:
    from memento.middleware import example

    assert isinstance(example.agent, CompiledStateGraph)
    assert example.agent.checkpointer is None  # `langgraph dev` rejects a graph with its own
    nodes = set(example.agent.get_graph().nodes)
    assert {"MementoMiddleware.before_agent", "MementoMiddleware.after_agent"} <= nodes
    assert example.memory._deps._cache == {}  # the bank opens on the first run, not at import
    channels = set(example.agent.channels)
    assert {"memento_task", "memento_cases", "memento_case_id"} <= channels
