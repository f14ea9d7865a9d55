"""Cost of the evaluation harness (`memento eval`) per task, and one full offline upstream run.

Part 1 runs the same N questions with a zero-latency model (the offline stand-in) and a one-line
tool three ways, at concurrency 1 and 4: the bare graph (in-memory checkpoints, no rows), the
harness with memory off (SQLite checkpoints, fsync-ed result rows, usage callbacks, scoring), and
the harness with similarity memory over a hashed-embedding bank (no neural model). The ratio to
the bare graph at the same concurrency is the harness overhead.

Part 2 (--full) runs the real CLI on the upstream DeepResearcher questions (3,197) with the
offline stand-in, similarity memory over the default MiniLM case bank, 1 epoch. It shows that the
harness scales; its accuracy is meaningless (the stand-in is not an LLM).

Writes only under benchmarks/out/eval_harness/. Reproduce:
    python benchmarks/eval_harness.py [--tasks 60]            # part 1
    python benchmarks/eval_harness.py --full [--full-limit N]  # parts 1 and 2
    python benchmarks/eval_harness.py --quick                  # part 1 on 8 tasks (smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from memento.eval.datasets import Task, load_dataset
from memento.eval.run_config import EvalConfig
from memento.eval.runner import run_eval
from memento.eval.task_run import task_input
from memento.graphs import Context, build_graph
from memento.memory.case_bank import CaseBank
from memento.testing import HashEmbeddings

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT.parent / "shared" / "data" / "memento-upstream" / "deepresearcher.jsonl"
OUT = ROOT / "benchmarks" / "out" / "eval_harness"


@tool
def lookup(query: str) -> str:
    """Return a fixed fact."""
    return "The answer is 42."


def hash_bank(path: Path) -> CaseBank:
    """A case bank with a cheap deterministic embedding, so only the harness is timed."""
    return CaseBank(path=path, embeddings=HashEmbeddings())


def sample_tasks(n: int) -> list[Task]:
    if UPSTREAM.is_file():
        return load_dataset(UPSTREAM, limit=n).tasks
    return [
        Task(task_id=f"t{i}", question=f"What is item {i}?", ground_truth=["42"],
             data_source="synthetic", line=i + 1)
        for i in range(n)
    ]  # fmt: skip


async def bare_graph(tasks: list[Task], concurrency: int) -> float:
    graph: Any = build_graph(
        checkpointer=InMemorySaver(), planner="offline", executor="offline", tools=[lookup]
    )
    ctx = Context(selection="none", learn=False)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, task: Task) -> None:
        async with gate:
            cfg = {"configurable": {"thread_id": f"bare-{i}"}}
            await graph.ainvoke(task_input(task), cfg, context=ctx)

    start = time.perf_counter()
    await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks)))
    return time.perf_counter() - start


async def harness(tasks: list[Task], memory: str, concurrency: int, folder: Path) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    bank = hash_bank(folder / "bank") if memory != "none" else None
    config = EvalConfig(memory=memory, concurrency=concurrency, out=folder)  # type: ignore[arg-type]
    start = time.perf_counter()
    await run_eval(
        tasks, config, planner="offline", executor="offline", tools=[lookup], case_bank=bank,
        progress=False,
    )  # fmt: skip
    return time.perf_counter() - start


def part1(n: int) -> list[str]:
    tasks = sample_tasks(n)
    asyncio.run(bare_graph(tasks[:3], 1))  # warm-up: imports, model cache
    lines = [
        f"### Harness overhead per task ({len(tasks)} tasks, zero-latency offline model)",
        "",
        "| Setup | Concurrency | Seconds | Tasks/s | ms/task | vs bare graph |",
        "|---|---|---|---|---|---|",
    ]
    for c in (1, 4):
        base = asyncio.run(bare_graph(tasks, c))
        runs = [("bare graph (in-memory checkpoints, no rows)", base)]
        for memory in ("none", "similarity"):
            secs = asyncio.run(harness(tasks, memory, c, OUT / f"part1-{memory}-c{c}"))
            label = "memento eval, memory none" if memory == "none" else (
                "memento eval, memory similarity (hashed-embedding bank)"
            )  # fmt: skip
            runs.append((label, secs))
        for label, secs in runs:
            lines.append(
                f"| {label} | {c} | {secs:.2f} | {len(tasks) / secs:.1f} | "
                f"{1000 * secs / len(tasks):.1f} | {secs / base:.2f}x |"
            )
    return lines


def part2(limit: int | None, concurrency: int) -> tuple[list[str], str]:
    folder = OUT / "full"
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [
        "memento", "eval", str(UPSTREAM), "--memory", "similarity", "--epochs", "1",
        "--llm", "offline", "--tools", "calculator", "--concurrency", str(concurrency),
        "--out", str(folder), "--json",
    ]  # fmt: skip
    if limit is not None:
        cmd[-1:-1] = ["--limit", str(limit)]
    env = {**os.environ, "MEMENTO_HOME": str(OUT / "home")}
    exe = [str(Path(sys.executable).with_name("memento")), *cmd[1:]]
    start = time.perf_counter()
    proc = subprocess.run(exe, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    epoch = summary["epochs"][0]
    bank = CaseBank(path=folder / "store" / "similarity" / "chroma")
    lines = [
        f"### Full offline run: {summary['tasks']} upstream questions, memory similarity, "
        "1 epoch (MiniLM case bank)",
        "",
        "| Tasks | Concurrency | Wall (s, incl. start-up) | Tasks/s | Rows | Errors | "
        "Cases in bank | Tokens in / out | EM / F1 / PM (meaningless: stand-in model) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {summary['tasks']} | {concurrency} | {wall:.0f} | {summary['tasks'] / wall:.2f} | "
        f"{summary['n']} | {epoch['errors']} | {bank.count(namespace='eval-similarity')} | "
        f"{summary['input_tokens']:,} / {summary['output_tokens']:,} | "
        f"{100 * epoch['em']:.1f} / {100 * epoch['f1']:.1f} / {100 * epoch['pm']:.1f} |",
    ]
    return lines, " ".join(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=60, help="Tasks for part 1.")
    parser.add_argument("--full", action="store_true", help="Also run part 2 (minutes).")
    parser.add_argument("--full-limit", type=int, default=None, help="Part 2 on N tasks only.")
    parser.add_argument("--full-concurrency", type=int, default=4, help="Part 2 concurrency.")
    parser.add_argument("--quick", action="store_true", help="Part 1 on 8 tasks (smoke run).")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.full = 8, False
    OUT.mkdir(parents=True, exist_ok=True)
    lines = part1(args.tasks)
    command = "python benchmarks/eval_harness.py " + (
        "--quick" if args.quick else f"--tasks {args.tasks}"
    )
    if args.full:
        if not UPSTREAM.is_file():
            raise SystemExit(f"part 2 needs {UPSTREAM}")
        more, cli = part2(args.full_limit, args.full_concurrency)
        lines += ["", *more, "", f"Part 2 is exactly: `MEMENTO_HOME={OUT / 'home'} {cli}`"]
        command += " --full" + (f" --full-limit {args.full_limit}" if args.full_limit else "")
    print("\n".join(lines))
    print(f"\nReproduce: `{command}` (machine: {os.cpu_count()} CPU cores, shared)")


if __name__ == "__main__":
    main()
