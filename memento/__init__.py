"""Memento on LangGraph: an agent that improves from a case bank while its LLM stays frozen.

The public API is small and re-exported here lazily, so that `import memento` stays cheap
(torch, Chroma and the embedding model load only when they are used).
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real types for mypy and editors; at run time __getattr__ imports them
    from memento.graphs.builder import build_graph
    from memento.graphs.context import Context
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.selector import QSelector
    from memento.memory.records import Case, Plan
    from memento.memory.selection import CaseSelector
    from memento.memory.similarity import SimilaritySelector
    from memento.middleware.core import MementoMiddleware
    from memento.settings import Settings, get_settings

__version__ = "0.1.0"

_EXPORTS = {
    "build_graph": "memento.graphs.builder",
    "Context": "memento.graphs.context",
    "CaseBank": "memento.memory.case_bank",
    "Case": "memento.memory.records",
    "Plan": "memento.memory.records",
    "CaseSelector": "memento.memory.selection",
    "SimilaritySelector": "memento.memory.similarity",
    "QSelector": "memento.memory.q.selector",
    "MementoMiddleware": "memento.middleware.core",
    "Settings": "memento.settings",
    "get_settings": "memento.settings",
}

__all__ = [
    "__version__",
    "build_graph",
    "Context",
    "CaseBank",
    "Case",
    "Plan",
    "CaseSelector",
    "SimilaritySelector",
    "QSelector",
    "MementoMiddleware",
    "Settings",
    "get_settings",
]

_LINKED = ("graphs", "nodes", "memory", "tools")


def _check_links() -> None:
    """Fail loudly when memento/graphs etc. are plain files: a checkout made without symlinks.

    Git with core.symlinks=false (Windows, some archives) writes each link as a small text file
    holding "../graphs"; memento.graphs would then be missing with a puzzling error later on.
    An editable install maps those packages itself, so it only counts when nothing finds them.
    """
    here = Path(__file__).parent
    broken = [name for name in _LINKED if (here / name).is_file()]
    if broken and any(find_spec(f"{__name__}.{name}") is None for name in broken):
        raise ImportError(
            f"{here / broken[0]} is a plain file, not a symbolic link to ../{broken[0]}: this "
            "checkout was made without symlinks (git core.symlinks=false). Enable them and "
            "check out again (`git config core.symlinks true`, then `git checkout -- memento`; "
            "on Windows turn on Developer Mode), or install the project with `pip install -e .`, "
            "which maps memento.graphs to graphs/ without links (mypy still needs the links)."
        )


_check_links()


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'memento' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    """The public names, so that completion lists them before they are imported."""
    return sorted({*globals(), *__all__})
