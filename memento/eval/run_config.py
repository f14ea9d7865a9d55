"""How an evaluation run is set up: its config, the context per memory mode, tools and judge.

Shared by the single-process loop (`memento.eval.runner`) and the worker processes
(`memento.eval.workers`, `memento.eval.worker_process`), so that the imports point one way:
runner -> workers -> worker_process -> run_config, never back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memento.eval.datasets import Task
from memento.eval.task_run import AccuracyJudge
from memento.eval.usage import Price
from memento.graphs.context import Context, Selection
from memento.scoring.metrics import DEFAULT_FAMILY, MetricFamily

MemoryMode = Literal["none", "similarity", "q"]
MEMORY_MODES: tuple[str, ...] = ("none", "similarity", "q")
CHECKPOINTS_FILE = "checkpoints.sqlite"
STORE_DIR = "store"


@dataclass(kw_only=True)
class EvalConfig:
    """What an evaluation run does; the base `context` is adapted per memory mode."""

    memory: MemoryMode
    """Memory mode: none (no retrieval, no learning), similarity, or q (learned Q-function)."""
    epochs: int = 1
    """Passes over the tasks; cases written in epoch e are retrievable in epoch e+1."""
    first_epoch: int = 1
    """First epoch this call runs (earlier ones ran in earlier calls, possibly over other
    tasks: a protocol with new tasks each epoch calls once per epoch with first_epoch=epochs)."""
    seed: int = 0
    """Seed of the summary's bootstrap intervals (the task sample is drawn by the caller)."""
    concurrency: int = 1
    """Tasks in flight at once."""
    out: Path
    """Run folder: results.jsonl, checkpoints.sqlite and store/<mode>."""
    context: Context = field(default_factory=Context)
    """Base context; the runner sets selection, learn, namespace and home per mode."""
    metric: MetricFamily = DEFAULT_FAMILY
    """Normalisation family of em, f1 and pm."""
    prices: Mapping[str, Price] | None = None
    """Optional USD prices per million tokens, per model name, for the cost."""
    retry_errors: bool = True
    """Re-run (task, epoch) pairs whose row recorded an error; False keeps them as they are."""
    prune_checkpoints: bool = False
    """Delete a task's checkpoints once its row is written (keeps big runs small on disk)."""
    workers: int = 1
    """Processes running tasks (`memento.eval.workers`); above 1 needs server-backed memory."""
    checkpointer: str | None = None
    """Checkpointer spec (SQLite path, postgres:// DSN, 'memory'); None: OUT/checkpoints.sqlite."""
    run_tag: str | None = None
    """Scope of thread ids and namespaces in shared stores; None: `resolve_run_tag` decides."""


def mode_context(base: Context, memory: str, out: Path, run_tag: str = "") -> Context:
    """The base context set up for one memory mode: selection, learning, namespace and store.

    `run_tag` (shared stores only) scopes the namespace to the run: eval-<mode>-<tag>.
    """
    if memory not in MEMORY_MODES:
        raise ValueError(f"unknown memory mode {memory!r}; expected one of {MEMORY_MODES}")
    selection: Selection = "none"
    if memory == "similarity":
        selection = "similarity"
    elif memory == "q":
        selection = "q_softmax" if base.selection == "q_softmax" else "q"
    return dataclasses.replace(
        base,
        selection=selection,
        q_train="q,q_softmax",  # only mode q trains a Q-function (similarity records nothing)
        learn=memory != "none",
        namespace=f"eval-{memory}-{run_tag}" if run_tag else f"eval-{memory}",
        home=str((out / STORE_DIR / memory).resolve()),
    )


def eval_tools(given: list[Any] | None, base: Context, tasks: Sequence[Task]) -> list[Any]:
    """The executor tools: those given, else the context's; plus read_document for attachments."""
    from memento.tools.config import CorpusConfig, DocumentsConfig, ToolsConfig
    from memento.tools.registry import load_tools

    home = Path(base.home) if base.home else None
    # Attachments live beside the dataset; read_document only reads under its roots.
    folders = sorted({str(Path(t.file_path).resolve().parent) for t in tasks if t.file_path})
    config = ToolsConfig(
        corpus=CorpusConfig(path=home / "corpus" if home else None, url=base.chroma_url or None),
        documents=DocumentsConfig(roots=[Path(f) for f in folders] or None),
    )
    names = [n.strip() for n in base.tools.split(",") if n.strip()]
    tools = list(given) if given is not None else load_tools(names, config)
    if any(t.file_path is not None for t in tasks) and "read_document" not in {
        t.name for t in tools
    }:
        tools.extend(load_tools(["read_document"], config))
    return tools


def accuracy_judge(judge: Any, ctx: Context) -> AccuracyJudge | None:
    """The judge of accuracy: the one given, else the context's or settings' judge spec.

    None when no judge is configured, or when the graph already judges (reward_metric 'llm').
    """
    from langchain_core.language_models import BaseChatModel

    from memento.graphs.models import load_chat_model
    from memento.settings import get_settings

    if ctx.reward_metric == "llm":
        return None
    if isinstance(judge, BaseChatModel):
        return AccuracyJudge(model=judge, name=str(getattr(judge, "model_name", "") or
                                                   judge._llm_type))  # fmt: skip
    spec = judge if isinstance(judge, str) else ctx.judge_model or get_settings().judge_model
    return AccuracyJudge(model=load_chat_model(spec), name=spec) if spec else None


def check_config(tasks: Sequence[Task], config: EvalConfig) -> None:
    """Raise ValueError for bad epochs, first_epoch, concurrency or duplicate task ids."""
    if config.epochs < 1 or config.concurrency < 1:
        raise ValueError(f"epochs and concurrency must be >= 1, got {config.epochs}, "
                         f"{config.concurrency}")  # fmt: skip
    if not 1 <= config.first_epoch <= config.epochs:
        raise ValueError(f"first_epoch must be in 1..epochs ({config.epochs}), "
                         f"got {config.first_epoch}")  # fmt: skip
    if len({t.task_id for t in tasks}) != len(tasks):
        raise ValueError("task ids must be unique (they are the resume keys)")


def check_models(ctx: Context, planner: Any, executor: Any) -> None:
    """Raise ModelNotConfiguredError now rather than on every task."""
    from memento.graphs.models import resolve_spec

    if planner is None:
        resolve_spec("planner", ctx.planner_model, ctx.llm)
    if executor is None:
        resolve_spec("executor", ctx.executor_model, ctx.llm)
