"""One `memento eval --workers` process: its graph over the shared stores, pulling queued pairs.

The parent (`memento.eval.workers`) pickles a `WorkerSpec` to each worker. A worker builds the
graph once (Chroma server bank, Postgres checkpointer, and in mode q a `QWorker` that logs
transitions and loads the weights the parent's trainer publishes), then runs `concurrency`
loops that take (task index, epoch) pairs from the job queue until a None arrives, announcing
each pair before it starts and sending its row when it ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memento.eval.datasets import Task
from memento.eval.run_config import EvalConfig, accuracy_judge, eval_tools, mode_context
from memento.eval.task_run import run_task
from memento.infra.redact import redact


@dataclass(frozen=True)
class Stores:
    """Where the workers meet: the Chroma server, the checkpointer and the Q share."""

    chroma_url: str | None
    checkpointer: str
    q_share: str | None


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs (pickled to it)."""

    tasks: tuple[Task, ...]
    config: EvalConfig
    stores: Stores
    planner: Any = None
    executor: Any = None
    judge: Any = None
    embeddings: Any = None
    environ: tuple[tuple[str, str], ...] = ()
    """The parent's environment: a forked worker must see today's settings, not the server's."""


def open_bank(stores: Stores, embeddings: Any) -> Any:
    """The case bank on the Chroma server (the settings' collection), with `embeddings` if given."""
    from memento.memory.case_bank import CaseBank

    extra = {"embeddings": embeddings} if embeddings is not None else {}
    return CaseBank.from_settings(url=stores.chroma_url, **extra)


async def _work(spec: WorkerSpec, wid: int, jobs: Any, events: Any) -> None:
    """Build this worker's graph, then run pairs from the queue until a None arrives."""
    from memento.graphs.builder import build_graph
    from memento.infra.checkpointers import open_checkpointer

    config = spec.config
    ctx = mode_context(config.context, config.memory, Path(config.out), config.run_tag or "")
    # A network form's learner is then a QWorker on the shared Q; the kernel form's workers
    # each read and append the one run log under the run's store folder (SQLite, one machine).
    if config.memory == "q" and ctx.q_form != "kernel":
        assert spec.stores.q_share is not None
        ctx = dataclasses.replace(ctx, q_share=spec.stores.q_share)
    bank = open_bank(spec.stores, spec.embeddings) if config.memory != "none" else None
    tools = await asyncio.to_thread(eval_tools, None, config.context, spec.tasks)
    judge = accuracy_judge(spec.judge, ctx)
    async with open_checkpointer(spec.stores.checkpointer) as saver:
        graph = build_graph(
            checkpointer=saver, planner=spec.planner, executor=spec.executor,
            judge_model=spec.judge, tools=tools, case_bank=bank,
        )  # fmt: skip
        events.put(("ready", wid, None))

        async def pull() -> None:
            while (item := await asyncio.to_thread(jobs.get)) is not None:
                index, epoch = item
                task = spec.tasks[index]
                events.put(("start", wid, (task.task_id, epoch)))
                row = await run_task(
                    graph, task, memory=config.memory, epoch=epoch, ctx=ctx,
                    metric=config.metric, prices=config.prices, judge=judge,
                    run_tag=config.run_tag or "",
                )  # fmt: skip
                events.put(("row", wid, row.model_dump_json()))
                if config.prune_checkpoints and row.error is None and row.thread_id:
                    await saver.adelete_thread(row.thread_id)

        async with asyncio.TaskGroup() as group:
            for _ in range(config.concurrency):
                group.create_task(pull())


def worker_main(spec: WorkerSpec, wid: int, jobs: Any, events: Any) -> None:
    """Entry point of a worker process; a failure is reported to the parent, redacted."""
    try:
        from memento.settings import get_settings

        os.environ.clear()
        os.environ.update(dict(spec.environ))
        get_settings.cache_clear()
        import torch  # embeddings and the Q network: W workers share the cores, not W x all

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // spec.config.workers))
        asyncio.run(_work(spec, wid, jobs, events))
    except BaseException as exc:  # noqa: BLE001 - the parent decides what a dead worker means
        events.put(("fatal", wid, redact(f"{type(exc).__name__}: {exc}")[:2000]))
        raise
