"""Load benchmark: the case bank under concurrent readers and writers, and RSS over a long run.

1. Case bank load: an embedded Chroma bank (HashEmbeddings, 384 d) preloaded with a few
   thousand cases, then 8 threads calling `search(k=4)` and 2 threads calling `add` for a fixed
   time. Reports errors, p50/p95 latency per operation, and checks afterwards that every write is
   readable (`get_many` returns each written id with its task text) and that the count adds up.
2. Memory growth: one offline evaluation run per memory mode (none and similarity by default),
   each in a fresh process: offline planner and executor, SQLite checkpointer pruned after each
   row (as `memento eval --prune-checkpoints` does), N distinct tasks, RSS sampled as rows are
   written. Reports RSS at start, after 10% of the rows (warm-up) and at the end.

Measured on the shared development machine (2 cores, other jobs running): absolute times are
only indicative. Outputs go under benchmarks/out/load/. Run from the repository root:
    .venv/bin/python benchmarks/load.py                      # 60 s load + 10,000-task RSS run
    .venv/bin/python benchmarks/load.py --seconds 5 --tasks 300
    .venv/bin/python benchmarks/load.py --quick               # smoke run, about 30 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from memento.testing.load import (
    GrowthReport,
    LoadReport,
    case_bank_load,
    open_load_bank,
    sample_rss,
    words,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "load"
QUICK = {"seconds": 3.0, "preload": 300, "tasks": 60, "modes": "similarity"}
"""--quick: a few seconds of load and one short RSS run (a smoke check, not a measurement)."""


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def memory_growth(
    out: Path, tasks: int, *, memory: str = "similarity", concurrency: int = 4
) -> GrowthReport:
    """One offline eval over `tasks` distinct tasks in memory mode `memory`, sampling RSS."""
    from memento.eval.datasets import load_dataset
    from memento.eval.run_config import EvalConfig
    from memento.eval.runner import run_eval
    from memento.graphs import Context

    out.mkdir(parents=True, exist_ok=True)
    data = out / "tasks.jsonl"
    rng = random.Random(1)
    with data.open("w", encoding="utf-8") as fh:
        for i in range(tasks):
            question = f"What is {i} plus 1? ({words(rng, 4)})"
            row = {"question": question, "ground_truth": [str(i + 1)]}
            fh.write(json.dumps(row) + "\n")
    config = EvalConfig(
        memory=memory,  # type: ignore[arg-type]
        out=out / "run",
        concurrency=concurrency,
        prune_checkpoints=True,
        context=Context(reward_metric="pm", k=4, tools="calculator"),
    )
    run = run_eval(
        load_dataset(data).tasks,
        config,
        planner="offline",
        executor="offline",
        case_bank=open_load_bank(out / "bank"),
        progress=False,
    )  # fmt: skip
    return sample_rss(out / "run" / "results.jsonl", tasks, lambda: asyncio.run(run))


def _print_load(r: LoadReport, readers: int, writers: int) -> dict[str, Any]:
    print(f"\nCase bank load: {readers} readers + {writers} writers for {r.seconds:g} s, "
          f"{r.preload} cases preloaded (measured under load: 2 shared cores)")  # fmt: skip
    print("| operation | count | per s | p50 ms | p95 ms | max ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for name, values in (("search k=4", r.reads), ("add", r.writes)):
        errs = sum(e.startswith(name.split()[0][:4]) for e in r.errors)
        worst = max(values, default=0) * 1000
        print(f"| {name} | {len(values)} | {len(values) / r.seconds:.1f} | {_pct(values, 0.5):.1f}"
              f" | {_pct(values, 0.95):.1f} | {worst:.1f} | {errs} |")  # fmt: skip
    print(f"writes readable afterwards: {len(r.written) - len(r.unreadable)}/{len(r.written)}; "
          f"count {r.final_count} = {r.preload} + {len(r.written)}: "
          f"{r.final_count == r.preload + len(r.written)}")  # fmt: skip
    return {
        "reads": len(r.reads), "writes": len(r.writes), "errors": r.errors[:20],
        "read_p50_ms": _pct(r.reads, 0.5), "read_p95_ms": _pct(r.reads, 0.95),
        "write_p50_ms": _pct(r.writes, 0.5), "write_p95_ms": _pct(r.writes, 0.95),
        "unreadable": len(r.unreadable), "final_count": r.final_count,
    }  # fmt: skip


def _growth_row(g: GrowthReport) -> dict[str, Any]:
    start, warm, end = g.samples[0][1], g.at(0.1), g.samples[-1][1]
    per_task = (end - warm) * 1024 / max(1, 0.9 * g.tasks)
    step = max(1, len(g.samples) // 20)
    curve = [[rows, round(mb, 1)] for rows, mb in g.samples[::step]]  # (rows written, RSS MiB)
    return {"start_mb": start, "warm_mb": warm, "end_mb": end, "kib_per_task": per_task,
            "rows": g.rows, "tasks": g.tasks, "seconds": g.seconds, "curve": curve}  # fmt: skip


def _growth_in_child(memory: str, tasks: int) -> dict[str, Any]:
    """Run one growth measurement in a fresh interpreter, so each starts from a clean RSS."""
    argv = [sys.executable, __file__, "--child-growth", memory, "--tasks", str(tasks)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def _print_growth(rows: dict[str, dict[str, Any]]) -> None:
    some = next(iter(rows.values()))
    print(f"\nMemory growth: offline eval over {some['tasks']} distinct tasks, SQLite "
          "checkpoints pruned after each row, concurrency 4, each mode in a fresh process "
          "(measured under load: 2 shared cores)")  # fmt: skip
    print("| memory | RSS start MiB | after 10% MiB | end MiB | growth after warm-up | KiB/task "
          "| seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['start_mb']:.0f} | {r['warm_mb']:.0f} | {r['end_mb']:.0f} | "
              f"{r['end_mb'] - r['warm_mb']:+.0f} MiB | {r['kib_per_task']:.1f} | "
              f"{r['seconds']:.0f} |")  # fmt: skip


def main() -> None:
    """Parse arguments, run both measurements, print tables and the command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--preload", type=int, default=3000)
    parser.add_argument("--tasks", type=int, default=10_000, help="0 skips the RSS run")
    parser.add_argument("--modes", default="none,similarity", help="memory modes for the RSS run")
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (smoke run)")
    parser.add_argument("--child-growth", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    if args.child_growth:
        out = OUT / f"growth-{args.child_growth}"
        shutil.rmtree(out, ignore_errors=True)
        print(json.dumps(_growth_row(memory_growth(out, args.tasks, memory=args.child_growth))))
        return
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    summary: dict[str, Any] = {"command": " ".join([".venv/bin/python", *sys.argv])}
    if args.seconds > 0:
        report = case_bank_load(
            OUT / "bank", args.seconds, readers=args.readers, writers=args.writers,
            preload=args.preload,
        )  # fmt: skip
        summary["load"] = _print_load(report, args.readers, args.writers)
    if args.tasks > 0:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        summary["growth"] = {m: _growth_in_child(m, args.tasks) for m in modes}
        _print_growth(summary["growth"])
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"\nreproduce: {summary['command']}")


if __name__ == "__main__":
    main()
