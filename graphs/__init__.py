"""LangGraph state schemas and graph builders (installed as `memento.graphs`).

`build_graph(...)` compiles the M-MDP graph; `build_executor(...)` the executor subgraph. They are
re-exported lazily: the nodes import `memento.graphs.*` modules, and an eager import of the
builder here would run every node module first (an import cycle through this package).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memento.graphs.builder import build_graph
    from memento.graphs.context import Context
    from memento.graphs.executor import build_executor

_EXPORTS = {
    "build_graph": "memento.graphs.builder",
    "Context": "memento.graphs.context",
    "build_executor": "memento.graphs.executor",
}

__all__ = ["Context", "build_executor", "build_graph"]


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'memento.graphs' has no attribute {name!r}")
    return getattr(import_module(module), name)
