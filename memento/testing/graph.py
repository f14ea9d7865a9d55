"""Graph test doubles: a bank on hashed embeddings, a capitals lookup tool, a recording learner."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, tool

from memento.memory.case_bank import CaseBank
from memento.memory.learning import NullLearner, UpdateReport
from memento.testing.fakes import HashEmbeddings


def make_bank(path: Path, **kw: Any) -> CaseBank:
    """An embedded case bank at `path` over `HashEmbeddings` (no model files); `kw` to CaseBank."""
    return CaseBank(path=path, embeddings=HashEmbeddings(), **kw)


FACTS = {
    "france": "Paris is the capital of France.",
    "japan": "Tokyo is the capital of Japan.",
    "peru": "Lima is the capital of Peru.",
}


@tool
def corpus_search(query: str) -> str:
    """Search a three-document corpus of capitals."""
    for key, fact in FACTS.items():
        if key in query.lower():
            return fact
    return "no match"


def capital_tools() -> list[BaseTool]:
    """The one tool a graph under test needs: `corpus_search` over the three capitals in FACTS."""
    return [corpus_search]


class RecordingLearner(NullLearner):
    """Stands in for the Q learner: records transitions (the real one is tested elsewhere)."""

    def __init__(self, bank: CaseBank | None = None) -> None:
        super().__init__(bank)
        self.calls: list[dict[str, Any]] = []

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        key: str | None = None,
        relabel: bool = False,
        shown_labels: Sequence[str] | None = None,
    ) -> UpdateReport:
        """Keep the transition in `calls` (nothing is learned); report it as the n-th."""
        self.calls.append(
            {"task": task, "shown": list(shown_ids), "used": list(used_ids or []),
             "reward": reward, "key": key, "namespace": namespace or "default",
             "relabel": relabel, "shown_labels": shown_labels}
        )  # fmt: skip
        return UpdateReport(transition_id=len(self.calls))
