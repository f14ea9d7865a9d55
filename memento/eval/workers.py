"""`memento eval --workers W`: W processes share server-backed memory; one results file.

The parent process owns everything that must have a single writer: it queues the (task, epoch)
pairs still missing from OUT/results.jsonl, appends each worker's row to that file (so rows keep
the single-process schema and each pair is written once), draws one progress bar for all
workers, and, in memory mode q, runs the Q trainer (`memento.memory.q.share.QTrainer`) that
learns from every worker's transitions and publishes versioned weights the workers load between
tasks. Workers pull pairs from a shared queue, so a fast worker takes more; epoch e+1 is queued
only once epoch e is complete, as in the single-process run.

Workers share the case bank through a Chroma server (MEMENTO_CHROMA_URL) and the checkpoints
through PostgreSQL (MEMENTO_CHECKPOINTER), so a pair whose worker died is queued again and
resumed from its thread's checkpoint by another worker. The embedded store serves one process
only, so W > 1 without those servers is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import queue
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memento.eval.datasets import Task
from memento.eval.results import ResultRow, ResultsWriter, finished_keys
from memento.eval.run_config import STORE_DIR, EvalConfig, check_config, check_models, mode_context
from memento.eval.run_progress import RunProgress
from memento.eval.run_summary import EvalSummary, summarize_run
from memento.eval.run_tag import resolve_run_tag
from memento.eval.worker_process import Stores, WorkerSpec, open_bank, worker_main

Key = tuple[str, int]
PRELOAD = [
    "memento.eval.workers",
    "memento.graphs.builder",
    "memento.memory.case_bank",
    "memento.memory.q.share",
    "langgraph.checkpoint.postgres.aio",
]
POLL_S = 0.2
ORPHAN_GRACE_S = 2.0
"""Quiet time with every live worker idle after which pairs still marked queued count as lost."""


class WorkersConfigError(ValueError):
    """`--workers` asked for something the configured stores cannot serve."""


def resolve_stores(config: EvalConfig, workers: int) -> Stores:
    """The stores worker processes share, or a clear error naming what is missing.

    (`run_eval` keeps `workers == 1` in its own process, where the embedded store is fine.)
    """
    from memento.infra.dsn import describe, is_dsn
    from memento.settings import get_settings

    settings = get_settings()
    url = config.context.chroma_url or settings.chroma_url or None
    saver = config.checkpointer or settings.checkpointer or ""
    missing = []
    if config.memory != "none" and not url:
        missing.append("a Chroma server for the case bank (MEMENTO_CHROMA_URL)")
    if not is_dsn(saver):
        got = f" (got {describe(saver)!r})" if saver else ""
        missing.append(f"a PostgreSQL checkpointer (MEMENTO_CHECKPOINTER=postgresql://...){got}")
    if missing:
        raise WorkersConfigError(
            f"--workers {workers} needs server-backed memory: the embedded Chroma store and a "
            f"SQLite checkpoint file serve one process. Missing: {'; '.join(missing)}."
        )
    share = settings.q_share or saver  # the checkpointer's database is a DSN by now
    return Stores(url, saver, share)


async def _setup_checkpointer(spec: str) -> None:
    """Create the checkpointer's tables once, before W workers would race to."""
    from memento.infra.checkpointers import open_checkpointer

    async with open_checkpointer(spec):
        pass


class _Pool:
    """The parent's view of the worker processes: queues, liveness, pairs queued and in flight.

    The parent tracks every pair it queued until a worker announces it ("start"), and every pair
    a worker runs until its row arrives, so a dead worker's pairs are queued again exactly when
    they are neither done, queued nor in flight (never by asking the queue whether it is empty,
    which a multiprocessing queue cannot answer reliably).
    """

    def __init__(self, spec: WorkerSpec, workers: int) -> None:
        # Workers fork from a server process that imported the heavy modules once.
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(PRELOAD)
        self.jobs: Any = mp.Queue()
        self.events: Any = mp.Queue()
        self.procs = [
            mp.Process(target=worker_main, args=(spec, wid, self.jobs, self.events), daemon=True)
            for wid in range(workers)
        ]
        self.queued: set[Key] = set()
        self.in_flight: dict[int, set[Key]] = {wid: set() for wid in range(workers)}
        self.ready: set[int] = set()
        self.dead: set[int] = set()
        self.errors: list[str] = []
        self.orphans = False
        self.last_event = time.monotonic()
        for proc in self.procs:
            proc.start()

    def put(self, key: Key, index_of: dict[str, int]) -> None:
        """Queue `key` unless it is already queued or running on a live worker."""
        if key in self.queued or any(key in keys for keys in self.in_flight.values()):
            return
        self.queued.add(key)
        self.jobs.put((index_of[key[0]], key[1]))

    def started(self, wid: int, key: Key) -> None:
        """A worker took `key` from the queue and runs it."""
        self.queued.discard(key)
        self.in_flight.setdefault(wid, set()).add(key)

    def finished(self, wid: int, key: Key) -> None:
        """A worker sent `key`'s row."""
        self.queued.discard(key)
        self.in_flight.get(wid, set()).discard(key)

    def reap(self, pending: set[Key], index_of: dict[str, int]) -> None:
        """Queue again the pairs of workers that died; fail when none is left."""
        for wid, proc in enumerate(self.procs):
            if wid in self.dead or proc.is_alive():
                continue
            self.dead.add(wid)
            lost = self.in_flight.pop(wid, set()) & pending
            for key in sorted(lost):
                self.put(key, index_of)
            self.orphans = True
        if len(self.dead) == len(self.procs):
            detail = "; ".join(self.errors) or "no message (killed?)"
            raise RuntimeError(f"every eval worker died: {detail}")
        if self.orphans and self._idle():
            # A worker may die between taking a pair and announcing it: that pair stays
            # "queued" here while no live worker has work. Queue those pairs once more.
            self.orphans = False
            stale = self.queued & pending
            self.queued -= stale
            for key in sorted(stale):
                self.put(key, index_of)

    def _idle(self) -> bool:
        """Every live worker is ready, runs nothing, and none spoke for ORPHAN_GRACE_S.

        Idle workers wait on the queue, so a pair still in it would have been announced.
        """
        live = [w for w in range(len(self.procs)) if w not in self.dead]
        return (
            all(w in self.ready and not self.in_flight.get(w) for w in live)
            and time.monotonic() - self.last_event >= ORPHAN_GRACE_S
        )

    def stop(self, per_worker: int) -> None:
        """Send each worker's loops a None, then wait for them (killing stragglers)."""
        for _ in range(len(self.procs) * per_worker):
            self.jobs.put(None)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


def run_eval_workers(
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    planner: Any = None,
    executor: Any = None,
    judge: Any = None,
    embeddings: Any = None,
    progress: bool = True,
) -> EvalSummary:
    """Run the evaluation with `config.workers` processes; same rows and summary as `run_eval`.

    Models (and `embeddings`, for the bank) given as objects must pickle; None uses the
    context's specs (e.g. 'offline') and the default embeddings in each worker.

    Raises:
        WorkersConfigError: more than one worker without a Chroma server and a Postgres
            checkpointer.
        RuntimeError: every worker died (their errors are named).
    """
    workers = config.workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    check_config(tasks, config)
    stores = resolve_stores(config, workers)
    out = Path(config.out)
    if config.run_tag is None:  # workers always share server stores: scope this run in them
        config = dataclasses.replace(config, run_tag=resolve_run_tag(out, shared=True))
    ctx = mode_context(config.context, config.memory, out, config.run_tag or "")
    check_models(ctx, planner, executor)
    out.mkdir(parents=True, exist_ok=True)
    done = finished_keys(out, memory=config.memory, include_errors=not config.retry_errors)
    index_of = {t.task_id: i for i, t in enumerate(tasks)}
    trainer = None
    if config.memory == "q" and ctx.q_form != "kernel":  # the kernel's workers share one log
        from memento.memory.q.share import QTrainer, open_share

        bank = open_bank(stores, embeddings)
        assert stores.q_share is not None
        share = open_share(stores.q_share, bank, channel=ctx.namespace)
        trainer = QTrainer(bank, share, out / STORE_DIR / "q" / "trainer", namespace=ctx.namespace)
        trainer.acquire()
    spec = WorkerSpec(
        tuple(tasks), config, stores, planner, executor, judge, embeddings,
        environ=tuple(os.environ.items()),
    )  # fmt: skip
    asyncio.run(_setup_checkpointer(stores.checkpointer))
    started, ran, skipped = time.perf_counter(), 0, 0
    pool = _Pool(spec, workers)
    label = f"{config.memory} ×{workers} workers"
    try:
        with (
            ResultsWriter(out) as writer,
            RunProgress(label=label, epochs=config.epochs, enabled=progress) as bar,
        ):
            for epoch in range(config.first_epoch, config.epochs + 1):
                todo = [t for t in tasks if (t.task_id, epoch) not in done]
                skipped += len(tasks) - len(todo)
                bar.start_epoch(epoch, len(tasks), len(tasks) - len(todo))
                pending = {(t.task_id, epoch) for t in todo}
                for t in todo:
                    pool.put((t.task_id, epoch), index_of)
                while pending:
                    _drain_events(pool, pending, writer, bar)
                    pool.reap(pending, index_of)  # right after the drain: its view is fresh
                    if trainer is not None:
                        trainer.poll()
                ran += len(todo)
    finally:
        pool.stop(config.concurrency)
        if trainer is not None:
            trainer.drain()
            trainer.close()  # releases the trainer lock too
    return summarize_run(
        writer.path, tasks, memory=config.memory, epochs=config.epochs, metric=config.metric,
        seed=config.seed, ran=ran, skipped=skipped, seconds=time.perf_counter() - started,
    )  # fmt: skip


def _drain_events(pool: _Pool, pending: set[Key], writer: ResultsWriter, bar: RunProgress) -> None:
    """Handle worker messages for up to POLL_S: write each pending pair's row once."""
    deadline = time.monotonic() + POLL_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            kind, wid, body = pool.events.get(timeout=left)
        except queue.Empty:
            return
        pool.last_event = time.monotonic()
        if kind == "ready":
            pool.ready.add(wid)
        elif kind == "start":
            task_id, epoch = body
            pool.started(wid, (task_id, epoch))
        elif kind == "row":
            row = ResultRow.model_validate_json(body)
            pool.finished(wid, row.key)
            if row.key in pending:  # a re-queued orphan may finish twice; its row is written once
                pending.discard(row.key)
                writer.append(row)
                bar.advance(row)
        elif kind == "fatal":
            pool.errors.append(f"worker {wid}: {body}")
