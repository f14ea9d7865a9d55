"""The evaluation run loop behind `memento eval`: every task through the graph, epoch by epoch.

The paper's continual-learning protocol: with memory on, the case written for a task is in the bank
as soon as that task finishes, so later tasks of the same epoch (in the order tasks finish) and all
tasks of later epochs can retrieve it. Each memory mode has its own store (OUT/store/<mode>) and
namespace (eval-<mode>), so runs of different modes never see each other's cases.

Resumable: every finished (task, epoch) is appended to OUT/results.jsonl at once; each task runs
on its own thread of a SQLite checkpointer (OUT/checkpoints.sqlite), so re-running the same call
skips finished pairs and resumes interrupted threads. A crash or Ctrl-C loses at most the tasks in
flight. `EvalConfig.workers` > 1 spreads the tasks over processes that share server-backed memory
(`memento.eval.workers`); `EvalConfig.checkpointer` names a Postgres checkpointer instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memento.eval.datasets import Task
from memento.eval.metrics import DEFAULT_FAMILY, MetricFamily
from memento.eval.results import ResultsWriter, finished_keys
from memento.eval.run_progress import RunProgress
from memento.eval.run_summary import EvalSummary, summarize_run
from memento.eval.task_run import AccuracyJudge, run_task
from memento.eval.usage import Price
from memento.graphs.context import Context, Selection

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


class NullLearner:
    """A Q learner that learns nothing: the none and similarity modes train no Q-function."""

    def record(
        self,
        task: str,
        shown: list[str],
        used: list[str],
        reward: float,
        *,
        key: str,
        namespace: str = "default",
        relabel: bool = False,
    ) -> dict[str, Any]:
        """Ignore the transition."""
        return {"skipped": "no Q-function in this memory mode"}


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
        learn=memory != "none",
        namespace=f"eval-{memory}-{run_tag}" if run_tag else f"eval-{memory}",
        home=str((out / STORE_DIR / memory).resolve()),
    )


def _tools(given: list[Any] | None, base: Context, tasks: Sequence[Task]) -> list[Any]:
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


def _learner(given: Any, memory: str) -> Any:
    if given is not None or memory == "q":
        if given is None and importlib.util.find_spec("memento.memory.q_learner") is None:
            raise RuntimeError(
                "memory mode 'q' needs memento.memory.q_learner (the Q learner), which is missing"
            )
        return given
    return NullLearner()


def _accuracy_judge(judge: Any, ctx: Context) -> AccuracyJudge | None:
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


def _check_config(tasks: Sequence[Task], config: EvalConfig) -> None:
    """Raise ValueError for bad epochs, first_epoch, concurrency or duplicate task ids."""
    if config.epochs < 1 or config.concurrency < 1:
        raise ValueError(f"epochs and concurrency must be >= 1, got {config.epochs}, "
                         f"{config.concurrency}")  # fmt: skip
    if not 1 <= config.first_epoch <= config.epochs:
        raise ValueError(f"first_epoch must be in 1..epochs ({config.epochs}), "
                         f"got {config.first_epoch}")  # fmt: skip
    if len({t.task_id for t in tasks}) != len(tasks):
        raise ValueError("task ids must be unique (they are the resume keys)")


def _check_models(ctx: Context, planner: Any, executor: Any) -> None:
    """Raise ModelNotConfiguredError now rather than on every task."""
    from memento.graphs.models import resolve_spec

    if planner is None:
        resolve_spec("planner", ctx.planner_model, ctx.llm)
    if executor is None:
        resolve_spec("executor", ctx.executor_model, ctx.llm)


def _run_tag(config: EvalConfig) -> str:
    """The run's tag: '' unless checkpoints or cases live in a server shared with other runs."""
    from memento.eval.run_tag import resolve_run_tag, uses_shared_stores
    from memento.settings import get_settings

    settings = get_settings()
    saver = config.checkpointer or (settings.checkpointer if config.workers > 1 else None)
    url = config.context.chroma_url or settings.chroma_url
    return resolve_run_tag(Path(config.out), shared=uses_shared_stores(saver, url))


async def _tune_sqlite(saver: Any) -> None:
    """WAL with synchronous=NORMAL: commits survive a killed process without an fsync each.

    The checkpoints only serve resuming; a power cut may lose the last few, which merely
    re-runs those steps. Result rows stay fsync-ed one by one.
    """
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        await saver.conn.execute("PRAGMA synchronous=NORMAL")


async def run_eval(
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    planner: Any = None,
    executor: Any = None,
    judge: Any = None,
    tools: list[Any] | None = None,
    case_bank: Any = None,
    learner: Any = None,
    progress: bool = True,
) -> EvalSummary:
    """Run every task through the Memento graph for each epoch; append rows as tasks finish.

    Args:
        tasks: The tasks, in run order (task ids unique).
        config: Memory mode, epochs, concurrency, run folder and base context.
        planner: Planner chat model (or spec); None: the context's model.
        executor: Executor chat model (or spec); None: the context's model.
        judge: Judge chat model (or spec): the reward's judge for reward_metric 'llm', else a
            judge of accuracy only; None: the context's (or settings') judge model, if any.
        tools: Executor tools; None: the tools the context names.
        case_bank: A CaseBank shared by the modes (kept apart by namespace); None: one bank per
            mode under OUT/store/<mode>.
        learner: Q learner; None: the one stored under OUT/store/q (mode q) or none at all.
        progress: Draw a progress bar when standard error is a terminal.

    Returns:
        Scores per epoch over `tasks` (rows from earlier calls on the same folder included).

    Raises:
        ModelNotConfiguredError: No model given or configured.
        ValueError: Bad configuration (memory mode, epochs, concurrency, duplicate task ids),
            or workers > 1 without server-backed memory (`memento.eval.workers`).
    """
    from memento.graphs.builder import build_graph
    from memento.graphs.checkpointers import open_checkpointer

    _check_config(tasks, config)
    if config.run_tag is None:
        config = dataclasses.replace(config, run_tag=_run_tag(config))
    if config.workers > 1:
        if any(x is not None for x in (tools, case_bank, learner)):
            raise ValueError("workers > 1 build tools, bank and learner in each worker; "
                             "pass specs in the context instead of objects")  # fmt: skip
        from memento.eval.workers import run_eval_workers

        return await asyncio.to_thread(
            run_eval_workers, tasks, config, planner=planner, executor=executor, judge=judge,
            progress=progress,
        )  # fmt: skip
    ctx = mode_context(config.context, config.memory, Path(config.out), config.run_tag or "")
    _check_models(ctx, planner, executor)
    run_learner = _learner(learner, config.memory)
    accuracy_judge = _accuracy_judge(judge, ctx)
    run_tools = await asyncio.to_thread(_tools, tools, config.context, tasks)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    done = finished_keys(out, memory=config.memory, include_errors=not config.retry_errors)
    started, ran, skipped = time.perf_counter(), 0, 0
    async with open_checkpointer(config.checkpointer or out / CHECKPOINTS_FILE) as saver:
        await _tune_sqlite(saver)
        graph = build_graph(
            checkpointer=saver,
            planner=planner,
            executor=executor,
            judge_model=judge,
            tools=run_tools,
            case_bank=case_bank,
            learner=run_learner,
        )
        gate = asyncio.Semaphore(config.concurrency)
        with (
            ResultsWriter(out) as writer,
            RunProgress(label=config.memory, epochs=config.epochs, enabled=progress) as bar,
        ):

            async def one(task: Task, epoch: int) -> None:
                async with gate:
                    row = await run_task(
                        graph, task, memory=config.memory, epoch=epoch, ctx=ctx,
                        metric=config.metric, prices=config.prices, judge=accuracy_judge,
                        run_tag=config.run_tag or "",
                    )  # fmt: skip
                writer.append(row)
                bar.advance(row)
                if config.prune_checkpoints and row.error is None and row.thread_id:
                    await saver.adelete_thread(row.thread_id)  # the row now stands for it

            for epoch in range(config.first_epoch, config.epochs + 1):
                todo = [t for t in tasks if (t.task_id, epoch) not in done]
                skipped += len(tasks) - len(todo)
                bar.start_epoch(epoch, len(tasks), len(tasks) - len(todo))
                async with asyncio.TaskGroup() as group:
                    for task in todo:
                        group.create_task(one(task, epoch))
                ran += len(todo)
    return summarize_run(
        writer.path, tasks, memory=config.memory, epochs=config.epochs, metric=config.metric,
        seed=config.seed, ran=ran, skipped=skipped, seconds=time.perf_counter() - started,
    )  # fmt: skip


def run_eval_sync(
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    planner: Any = None,
    executor: Any = None,
    judge: Any = None,
    tools: list[Any] | None = None,
    case_bank: Any = None,
    learner: Any = None,
    progress: bool = True,
) -> EvalSummary:
    """Blocking form of `run_eval` (same arguments); not for use inside a running event loop."""
    return asyncio.run(
        run_eval(
            tasks,
            config,
            planner=planner,
            executor=executor,
            judge=judge,
            tools=tools,
            case_bank=case_bank,
            learner=learner,
            progress=progress,
        )  # fmt: skip
    )
