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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memento.eval.datasets import Task
from memento.eval.results import ResultsWriter, finished_keys
from memento.eval.run_config import (
    CHECKPOINTS_FILE,
    EvalConfig,
    accuracy_judge,
    check_config,
    check_models,
    eval_tools,
    mode_context,
)
from memento.eval.run_progress import RunProgress
from memento.eval.run_summary import EvalSummary, summarize_run
from memento.eval.task_run import run_task
from memento.memory.learning import Learner


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
    learner: Learner | None = None,
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
        learner: Q learner; None: the one the context's Q fields describe, under OUT/store/q
            (mode q), or none at all (`Context.q_train`).
        progress: Draw a progress bar when standard error is a terminal.

    Returns:
        Scores per epoch over `tasks` (rows from earlier calls on the same folder included).

    Raises:
        ModelNotConfiguredError: No model given or configured.
        ValueError: Bad configuration (memory mode, epochs, concurrency, duplicate task ids),
            or workers > 1 without server-backed memory (`memento.eval.workers`).
    """
    from memento.graphs.builder import build_graph
    from memento.infra.checkpointers import open_checkpointer

    check_config(tasks, config)
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
    check_models(ctx, planner, executor)
    run_judge = accuracy_judge(judge, ctx)
    run_tools = await asyncio.to_thread(eval_tools, tools, config.context, tasks)
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
            learner=learner,
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
                        metric=config.metric, prices=config.prices, judge=run_judge,
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
    learner: Learner | None = None,
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
