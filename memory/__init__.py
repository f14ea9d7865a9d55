"""Case bank, embeddings, Q-function and selection policies (installed as `memento.memory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memento.memory.chroma_store import ChromaStore

__all__ = ["ChromaStore"]


def __getattr__(name: str) -> Any:
    """Import ChromaStore on first use, so `import memento.memory` stays light."""
    if name == "ChromaStore":
        from memento.memory.chroma_store import ChromaStore

        return ChromaStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
