"""Scale-out numbers: the Chroma server bank with 1, 2, 4 client processes; SQLite vs Postgres.

1. Case writes (one `bank.add` per case, dedup on, as the graph writes) and reads (`search`,
   k=4) against one `chroma run` server, by 1, 2 and 4 spawned client processes sharing the
   work; throughput = all operations / wall time from the common start to the last finish.
   Embeddings are HashEmbeddings (microseconds), so the table shows the server and client
   path; MiniLM's own cost per text is measured apart and printed under the table.
2. Checkpoint writes of the same small graph (offline model, one tool, memory off,
   durability 'sync') with AsyncSqliteSaver and AsyncPostgresSaver: the latency of every
   `aput` (one checkpoint), median and p95, and the ratio Postgres / SQLite.

The servers are started here on 127.0.0.1 (PostgreSQL with its default fsync=on), or given
with --chroma-url / --postgres-dsn (default: MEMENTO_TEST_CHROMA_URL / MEMENTO_TEST_POSTGRES_DSN,
as .ci/services exports them). Without the binaries it prints "skipped:" (fails under CI=true).
Reproduce: python benchmarks/scaleout.py [--cases 200]   (--quick: a smoke run of seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from multiprocessing.pool import Pool
from typing import Any

from langchain_core.tools import tool

from memento.graphs import Context, build_graph
from memento.graphs.offline_model import OfflineChatModel
from memento.testing.scaleout import distinct_cases, open_bank, wait_until
from memento.testing.services import ServiceMissing, chroma_server, postgres_server

CLIENTS = (1, 2, 4)
CTX = Context(selection="none", learn=False, max_cycles=2)
QUICK = {"cases": 20, "queries": 40, "rounds": 1, "tasks": 5, "no_minilm": True}
"""--quick: one small round, a few graph runs, no MiniLM (a smoke check, not a measurement)."""


@tool
def lookup(query: str) -> str:
    """Return a fixed fact."""
    return "The answer is 42."


def memory_off_graph(checkpointer: Any, model: OfflineChatModel) -> Any:
    """The graph with `model` in both roles and the `lookup` tool; with CTX it never uses memory.

    Placeholders stand in for the bank and the learner, so only checkpointing differs.
    """
    return build_graph(
        checkpointer=checkpointer,
        planner=model,
        executor=model,
        tools=[lookup],
        case_bank=object(),
        learner=object(),
    )


def write_job(args: tuple[str, str, int, int, float]) -> tuple[float, float]:
    """One client: add `n` distinct cases one `add` at a time; returns (start, end) times."""
    url, collection, writer, n, start_at = args
    bank = open_bank(url, collection)
    cases = distinct_cases(writer, n)
    wait_until(start_at)
    t0 = time.time()
    for case in cases:
        bank.add_cases([case])
    return t0, time.time()


def read_job(args: tuple[str, str, int, int, float]) -> tuple[float, float]:
    """One client: `n` searches (k=4) for tasks like the stored ones; returns (start, end)."""
    url, collection, writer, n, start_at = args
    bank = open_bank(url, collection)
    queries = [c.task for c in distinct_cases(100 + writer, n)]
    wait_until(start_at)
    t0 = time.time()
    for text in queries:
        bank.search(text, k=4)
    return t0, time.time()


def throughput(pool: Pool, job: Any, url: str, collection: str, total: int, clients: int) -> float:
    """Operations per second of `clients` processes sharing `total` operations."""
    start = time.time() + 1.0
    share = total // clients
    jobs = [(url, collection, 10 * clients + w, share, start) for w in range(clients)]
    spans: list[tuple[float, float]] = pool.map(job, jobs, chunksize=1)
    return share * clients / (max(e for _, e in spans) - min(s for s, _ in spans))


def bank_rows(url: str, cases: int, queries: int, rounds: int) -> list[tuple[int, float, float]]:
    """(clients, writes/s, searches/s) for 1, 2 and 4 clients: medians over `rounds` rounds.

    Each round runs every client count once, on a fresh collection, so that load from other
    jobs on the machine falls on all of them alike.
    """
    got: dict[int, list[tuple[float, float]]] = {c: [] for c in CLIENTS}
    with multiprocessing.get_context("spawn").Pool(max(CLIENTS)) as pool:
        pool.map(time.sleep, [0.0] * max(CLIENTS))
        for _ in range(rounds):
            for clients in CLIENTS:
                collection = f"bench_{clients}_{uuid.uuid4().hex[:8]}"
                open_bank(url, collection)
                w = throughput(pool, write_job, url, collection, cases, clients)
                r = throughput(pool, read_job, url, collection, queries, clients)
                got[clients].append((w, r))
    return [
        (c, statistics.median(w for w, _ in got[c]), statistics.median(r for _, r in got[c]))
        for c in CLIENTS
    ]


def minilm_ms(n: int = 50) -> float | None:
    """Median milliseconds MiniLM takes to embed one task text (what a write or search adds)."""
    try:
        from memento.memory.embeddings import default_embeddings

        model = default_embeddings()
        model.embed_query("warm up")
    except Exception:  # noqa: BLE001 - optional: the model package may be absent
        return None
    times = []
    for text in [c.task for c in distinct_cases(999, n)]:
        t0 = time.perf_counter()
        model.embed_query(text)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def checkpoint_latencies(specs: list[str], tasks: int) -> list[list[float]]:
    """Seconds per `aput` (one checkpoint write) for each checkpointer in `specs`.

    The graphs take turns task by task, so that load from other jobs falls on both alike.
    """
    from memento.infra.checkpointers import open_checkpointer

    def timed(saver: Any, times: list[float]) -> None:
        original = saver.aput

        async def aput(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = await original(*args, **kwargs)
            times.append(time.perf_counter() - t0)
            return out

        saver.aput = aput

    model = OfflineChatModel()
    results: list[list[float]] = [[] for _ in specs]
    async with contextlib.AsyncExitStack() as stack:
        graphs = []
        for spec, times in zip(specs, results, strict=True):
            saver = await stack.enter_async_context(open_checkpointer(spec))
            timed(saver, times)
            graphs.append(memory_off_graph(saver, model))
        for i in range(tasks):
            payload: Any = {"task": "What is the answer to everything?", "ground_truth": "42"}
            for graph in graphs:
                config: Any = {"configurable": {"thread_id": f"bench-{i}"}}
                await graph.ainvoke(payload, config, context=CTX, durability="sync")
    return results


def p95(values: list[float]) -> float:
    """95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=200, help="case writes per client count")
    parser.add_argument("--queries", type=int, default=400, help="searches per client count")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 1, 2, 4 clients")
    parser.add_argument("--tasks", type=int, default=30, help="graph runs per checkpointer")
    # CI's services (.ci/services) export these; without them the servers are started here.
    parser.add_argument("--chroma-url", default=os.environ.get("MEMENTO_TEST_CHROMA_URL"))
    parser.add_argument("--postgres-dsn", default=os.environ.get("MEMENTO_TEST_POSTGRES_DSN"))
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM timing")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (smoke run)")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    try:
        with chroma_server(args.chroma_url) as url:
            rows = bank_rows(url, args.cases, args.queries, args.rounds)
        minilm = None if args.no_minilm else minilm_ms()
        with tempfile.TemporaryDirectory() as tmp, postgres_server(args.postgres_dsn) as dsn:
            lite, pg = asyncio.run(checkpoint_latencies([f"{tmp}/ckpt.sqlite", dsn], args.tasks))
    except ServiceMissing as exc:
        if os.environ.get("CI") == "true":
            raise SystemExit(f"{exc} (CI=true: .ci/services must provide it)") from exc
        print(f"skipped: {exc}")
        return

    print(f"Case bank on one Chroma server: {args.cases} writes, {args.queries} searches (k=4)")
    print(f"per client count, median of {args.rounds} rounds; HashEmbeddings; spawned client")
    print("processes on the same machine as the server\n")
    print("| clients | writes/s | ratio to 1 | searches/s | ratio to 1 |")
    print("|---:|---:|---:|---:|---:|")
    w1, r1 = rows[0][1], rows[0][2]
    for clients, w, r in rows:
        print(f"| {clients} | {w:.0f} | {w / w1:.2f}x | {r:.0f} | {r / r1:.2f}x |")
    if minilm is not None:
        print(f"\nMiniLM (all-MiniLM-L6-v2, CPU) adds {minilm:.1f} ms (median) per text embedded,")
        print("in each client, to every write and every search (measured apart, one at a time).")
    print(f"\nCheckpoint writes (aput), same small graph, durability='sync', {args.tasks} runs")
    print("each, the two checkpointers taking turns task by task\n")
    print("| checkpointer | checkpoints | median ms | p95 ms | median ratio to SQLite |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(lite)
    for name, t in (("SQLite (AsyncSqliteSaver)", lite), ("Postgres (AsyncPostgresSaver)", pg)):
        med = statistics.median(t)
        print(f"| {name} | {len(t)} | {med * 1000:.2f} | {p95(t) * 1000:.2f} | {med / base:.2f}x |")
    sizes = f"--cases {args.cases} --queries {args.queries} --rounds {args.rounds}"
    command = "--quick" if args.quick else f"{sizes} --tasks {args.tasks}"
    print(f"\nReproduce: python benchmarks/scaleout.py {command}")


if __name__ == "__main__":
    main()
