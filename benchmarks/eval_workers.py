"""`memento eval --workers W` speed-up: 200 tasks, offline model, server-backed memory.

Runs the same evaluation (synthetic questions, memory `similarity` by default, 1 epoch) once in
one process (`--workers 1`, the plain run loop) and once per worker count W > 1 (W processes
plus the coordinating parent), each against the same `chroma run` server and PostgreSQL server
on 127.0.0.1 but with a fresh collection and a fresh database per run, so no run sees another's
cases or checkpoints. Wall time includes starting the worker processes. Prints a Markdown table
with the speed-up over W = 1 and the command; results go under benchmarks/out/eval_workers/.

The servers are started here, or given with --chroma-url / --postgres-dsn (default:
MEMENTO_TEST_CHROMA_URL / MEMENTO_TEST_POSTGRES_DSN, as .ci/services exports them); without the
binaries it prints "skipped:" (fails under CI=true).

    .venv/bin/python benchmarks/eval_workers.py [--tasks 200] [--workers 1,4] [--memory similarity]
    .venv/bin/python benchmarks/eval_workers.py --quick    # smoke run: 12 tasks, W = 1 and 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from memento.testing.services import (
    ServiceMissing,
    chroma_server,
    create_database,
    postgres_server,
)

QUICK = {"tasks": 12, "workers": "1,2", "hash_embeddings": True}
"""--quick: 12 tasks, 1 and 2 workers, hashed embeddings (a smoke check, not a measurement)."""
OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out" / "eval_workers"
COUNTRIES = ["France", "Japan", "Peru", "Chile", "Kenya", "Norway", "Canada", "Egypt", "India"]


def write_dataset(path: Path, n: int) -> Path:
    """Write `n` distinct questions (arithmetic and capitals) as a generic JSONL dataset."""
    rows = []
    for i in range(n):
        if i % 2:
            a, b = 3 + i, 7 * i % 97
            rows.append({"question": f"What is {a} plus {b}?", "ground_truth": [str(a + b)]})
        else:
            country = COUNTRIES[i % len(COUNTRIES)]
            rows.append({"question": f"Question {i}: name the capital of {country}.",
                         "ground_truth": ["?"]})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def one_run(
    tasks: list[Any], workers: int, memory: str, chroma: str, admin_dsn: str, hashed: bool
) -> dict[str, Any]:
    """One evaluation with `workers` processes on a fresh collection and database."""
    from memento.eval.results import read_results
    from memento.eval.run_config import EvalConfig
    from memento.eval.runner import run_eval_sync
    from memento.eval.workers import run_eval_workers
    from memento.graphs import Context
    from memento.memory.case_bank import CaseBank
    from memento.settings import get_settings

    dsn = create_database(admin_dsn, "bench_")
    collection = f"bench_w{workers}_{uuid.uuid4().hex[:8]}"
    os.environ.update(
        MEMENTO_CHROMA_URL=chroma, MEMENTO_CHECKPOINTER=dsn, MEMENTO_COLLECTION=collection
    )
    get_settings.cache_clear()
    out = OUT / f"run_w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    ctx = Context(llm="offline", tools="calculator", reward_metric="em")
    config = EvalConfig(
        memory=memory,  # type: ignore[arg-type]
        out=out,
        context=ctx,
        workers=workers,
        checkpointer=dsn,
    )
    embeddings = None
    if hashed:
        from memento.testing import HashEmbeddings

        embeddings = HashEmbeddings()
    start = time.perf_counter()
    if workers == 1:
        bank = CaseBank.from_settings(embeddings=embeddings) if embeddings else None
        run_eval_sync(tasks, config, case_bank=bank, progress=False)
    else:
        run_eval_workers(tasks, config, embeddings=embeddings, progress=False)
    wall = time.perf_counter() - start
    rows = read_results(out)
    return {
        "workers": workers,
        "wall_s": wall,
        "rows": len(rows),
        "unique": len({r.key for r in rows}),
        "errors": sum(r.error is not None for r in rows),
        "tasks_per_s": len(rows) / wall,
    }


def main() -> None:
    """Run the evaluation at each worker count and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", default="1,4", help="Comma-separated worker counts.")
    parser.add_argument("--memory", default="similarity", choices=["none", "similarity", "q"])
    parser.add_argument("--hash-embeddings", action="store_true",
                        help="Hashed test embeddings instead of MiniLM.")  # fmt: skip
    # CI's services (.ci/services) export these; without them the servers are started here.
    parser.add_argument("--chroma-url", default=os.environ.get("MEMENTO_TEST_CHROMA_URL"))
    parser.add_argument("--postgres-dsn", default=os.environ.get("MEMENTO_TEST_POSTGRES_DSN"))
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (smoke run)")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    from memento.eval.datasets import load_dataset

    counts = [int(w) for w in args.workers.split(",")]
    tasks = load_dataset(write_dataset(OUT / "tasks.jsonl", args.tasks)).tasks
    load_before = os.getloadavg()
    results = []
    try:
        with chroma_server(args.chroma_url) as chroma, postgres_server(args.postgres_dsn) as dsn:
            for workers in counts:
                results.append(
                    one_run(tasks, workers, args.memory, chroma, dsn, args.hash_embeddings)
                )
                print(f"  W={workers}: {results[-1]['wall_s']:.1f}s", file=sys.stderr, flush=True)
    except ServiceMissing as exc:
        if os.environ.get("CI") == "true":
            raise SystemExit(f"{exc} (CI=true: .ci/services must provide it)") from exc
        print(f"skipped: {exc}")
        return
    base = next((r["wall_s"] for r in results if r["workers"] == 1), results[0]["wall_s"])
    emb = "hashed test embeddings" if args.hash_embeddings else "MiniLM embeddings"
    print(f"\n`memento eval` with the offline model: {args.tasks} tasks, memory {args.memory}, "
          f"1 epoch, Chroma server + PostgreSQL checkpointer on 127.0.0.1, {emb}; "
          f"{os.cpu_count()} CPU cores, load average {load_before[0]:.1f} at start "
          "(measured under load from other jobs)\n")  # fmt: skip
    print("| workers | wall (s) | tasks/s | speed-up vs 1 | rows | unique (task, epoch) | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        speedup = base / r["wall_s"]
        print(f"| {r['workers']} | {r['wall_s']:.1f} | {r['tasks_per_s']:.2f} | {speedup:.2f}x | "
              f"{r['rows']} | {r['unique']} | {r['errors']} |")  # fmt: skip
    argv = " ".join(sys.argv[1:])
    print(f"\nReproduce: .venv/bin/python benchmarks/eval_workers.py {argv}".rstrip())
    (OUT / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
