"""case_search: an agent looks up past cases (task, plan, outcome) for a subtask, mid-run.

Upstream Memento retrieves cases once per task, for the planner; with this tool an agent, or
Memento's own executor (when the run's `tools` list names `case_search`), retrieves per subtask.
Cases come through a `CaseSelector` (similarity or the learned Q), positive ones to follow and
negative ones to avoid. The tool only reads: it never writes to the bank or trains Q.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from memento.memory.records import ScoredCase
from memento.memory.selection import CaseSelector
from memento.tools.config import CaseSearchConfig, truncate

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

DESCRIPTION = (
    "Look up past cases from memory for a subtask or question: similar tasks solved before, "
    "with the steps taken and whether they worked (positive: follow; negative: avoid)."
)
NO_CASES = "No past cases found for this query."


class CaseSearchInput(BaseModel):
    """Arguments of case_search."""

    query: str = Field(min_length=1, description="The subtask or question to find cases for.")


def render_found(picked: list[ScoredCase]) -> str:
    """Selected cases as tagged text: id, label, reward, score, the task and the plan's steps."""
    if not picked:
        return NO_CASES
    blocks = []
    for s in picked:
        c = s.case
        steps = "\n".join(f"{p.id}. {p.description}" for p in c.plan.plan)
        blocks.append(
            f'<case id="{c.id}" label="{c.label}" reward="{c.reward:.2f}" score="{s.score:.3f}">\n'
            f"<case_task>{c.task}</case_task>\n<case_plan>\n{steps}\n</case_plan>\n</case>"
        )
    return "\n".join(blocks)


def build_case_search(
    selector: CaseSelector | Callable[[], CaseSelector],
    *,
    k: int = 3,
    namespace: str | None = None,
    positive: int | None = None,
    negative: int | None = None,
    max_chars: int = 6000,
) -> BaseTool:
    """The case_search tool over `selector` (or a function that builds it on first use)."""
    lock = threading.Lock()
    built: list[CaseSelector] = []

    def policy() -> CaseSelector:
        if isinstance(selector, CaseSelector):
            return selector
        with lock:
            if not built:
                built.append(selector())
            return built[0]

    def case_search(query: str) -> str:
        picked = policy().select(
            query, k=k, namespace=namespace, positive=positive, negative=negative
        )
        return truncate(render_found(picked), max_chars)

    async def acase_search(query: str) -> str:
        return await asyncio.to_thread(case_search, query)

    return StructuredTool.from_function(
        func=case_search,
        coroutine=acase_search,
        name="case_search",
        description=DESCRIPTION,
        args_schema=CaseSearchInput,
    )


def open_selector(config: CaseSearchConfig) -> CaseSelector:
    """The policy `config` names over the bank it names (opened here, on first use)."""
    from memento.memory.case_bank import CaseBank
    from memento.settings import get_settings

    home = config.home or Path(get_settings().home)
    bank: CaseBank = (
        CaseBank.from_settings(url=config.url)
        if config.url
        else CaseBank.from_settings(path=home / "chroma")
    )
    if config.policy == "q":
        from memento.memory.q.selector import QSelector

        return QSelector(bank, checkpoint_dir=home / "q")
    from memento.memory.similarity import SimilaritySelector

    return SimilaritySelector(bank)


def build_from_config(config: CaseSearchConfig) -> BaseTool:
    """case_search over the bank and policy of `config` (nothing is opened until it is used)."""
    return build_case_search(
        lambda: open_selector(config),
        k=config.k,
        namespace=config.namespace,
        max_chars=config.max_chars,
    )
