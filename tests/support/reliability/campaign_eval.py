"""The offline evaluation that the kill campaign runs, kills and resumes.

Tasks are synthetic look-ups ("What is the code word of item 17?"); a `lookup` tool answers from
a code book, except for every third item (reward 0, so the bank holds negative cases too). The
planner and executor are the offline stand-in model; the bank uses hashed test embeddings with
near-duplicate merging off, so every finished thread must own exactly one case. Modes
`similarity` and `q` (the real torch `QLearner`) each get their own store under OUT/store/<mode>,
as `memento eval` lays them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from memento.eval.datasets import Task
from memento.eval.run_config import STORE_DIR, EvalConfig
from memento.eval.runner import run_eval_sync
from memento.graphs.context import Context
from memento.memory.case_bank import CaseBank
from memento.testing import HashEmbeddings

MODES: tuple[str, ...] = ("similarity", "q")
EMBED_DIM = 64
_ITEM = re.compile(r"item (\d+)")


def code_word(i: int) -> str:
    """The accepted answer of item `i`."""
    return f"kw{i:04d}"


def make_tasks(n: int) -> list[Task]:
    """`n` distinct look-up tasks with one accepted answer each."""
    return [
        Task(
            task_id=f"t{i:04d}",
            question=f"What is the code word of item {i}?",
            ground_truth=[code_word(i)],
            data_source="codebook",
            line=i + 1,
        )
        for i in range(n)
    ]


def lookup_tool(on_call: Callable[[], None] | None = None) -> BaseTool:
    """The code-book tool; `on_call` runs first on every call (the campaign's kill clock)."""

    def lookup(query: str) -> str:
        """Look up the code word of an item by its number."""
        if on_call is not None:
            on_call()
        found = _ITEM.findall(query)
        if not found:
            return "no item number in the query"
        item = int(found[-1])  # adapted plans name the shown case's item first
        if item % 3 == 0:
            return f"item {item} is not in the code book"
        return f"{code_word(item)}"

    return StructuredTool.from_function(lookup)


def store_path(out: Path, mode: str) -> Path:
    """The Chroma folder of one mode's bank."""
    return out / STORE_DIR / mode / "chroma"


def q_dir(out: Path) -> Path:
    """The Q learner's checkpoint folder (q.pt, q.json, replay.sqlite)."""
    return out / STORE_DIR / "q" / "q"


def open_bank(out: Path, mode: str) -> CaseBank:
    """The mode's bank: hashed embeddings, no near-duplicate merging."""
    return CaseBank(
        path=store_path(out, mode),
        embeddings=HashEmbeddings(dim=EMBED_DIM),
        dedup_threshold=None,
    )


def open_learner(bank: CaseBank, out: Path) -> Any:
    """The real online Q learner over `bank`, sized to the test embedding."""
    from memento.memory.q.learner import QLearner
    from memento.memory.q.network import QConfig

    return QLearner.open(bank, q_dir(out), config=QConfig(dim=EMBED_DIM))


def run_modes(
    out: Path,
    tasks: Sequence[Task],
    *,
    modes: Sequence[str] = MODES,
    concurrency: int = 4,
    on_tool_call: Callable[[], None] | None = None,
) -> None:
    """Run (or resume) the evaluation of `tasks` in each memory mode, one after the other."""
    ctx = Context(llm="offline", k=2, reward_metric="pm", tools="")
    for mode in modes:
        bank = open_bank(out, mode)
        learner = open_learner(bank, out) if mode == "q" else None
        config = EvalConfig(memory=mode, out=out, context=ctx, concurrency=concurrency)  # type: ignore[arg-type]
        run_eval_sync(
            tasks,
            config,
            planner="offline",
            executor="offline",
            tools=[lookup_tool(on_tool_call)],
            case_bank=bank,
            learner=learner,
            progress=False,
        )
