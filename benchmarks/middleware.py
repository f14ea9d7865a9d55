"""MementoMiddleware's overhead per agent run: the same create_agent agent with and without it.

Every agent has the same scripted tool-calling model (zero latency: one tool call, then an
answer) and tool, so the difference is the middleware's own work: embedding the task (MiniLM),
selecting K cases from a bank of the upstream Memento cases, adding them to the system message,
and (learning on) writing the run's case and recording the Q transition. Runs of the variants
are interleaved task by task so that load on the machine hits them alike; each run has its own
question (the embedder keeps recent single texts, so two variants must not share one). Reports
the median per run, the ratio to the bare agent, and the added milliseconds.

Reproduce: python benchmarks/middleware.py [--tasks 40]   (--quick: 300 cases, 8 tasks)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.tools import tool

from memento.memory.case_bank import CaseBank
from memento.memory.formats import read_cases
from memento.middleware import MementoMiddleware
from memento.testing.agent import ToolCallingModel

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "memento-upstream"


@tool
def lookup(query: str) -> str:
    """Return a fixed fact."""
    return "The answer is 42."


def _agent(middleware: list[Any]) -> Any:
    return create_agent(ToolCallingModel(), [lookup], middleware=middleware)


def _timed(agent: Any, question: str) -> float:
    start = time.perf_counter()
    agent.invoke({"messages": [("user", question)]})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 cases, 8 tasks (smoke run).")
    parser.add_argument("--tasks", type=int, default=40, help="Agent runs per variant.")
    parser.add_argument("--cases", type=int, default=None, help="Bank size (default: all).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    args = parser.parse_args()
    memory_file, questions_file = UPSTREAM / "memory.jsonl", UPSTREAM / "deepresearcher.jsonl"
    if not memory_file.is_file() or not questions_file.is_file():
        if os.environ.get("CI") == "true":
            raise SystemExit(f"upstream data not found at {UPSTREAM}")
        print(f"skipped: upstream data not found at {UPSTREAM}")
        return
    n_tasks = 8 if args.quick else args.tasks
    cases = read_cases(memory_file, format="upstream")
    cases = cases[: (300 if args.quick else args.cases or len(cases))]
    lines = questions_file.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines[: 3 * n_tasks + 1]]

    folder = Path(tempfile.mkdtemp(prefix="memento-bench-middleware-"))
    bank = CaseBank(path=folder / "chroma", dedup_threshold=None)  # MiniLM, offline
    start = time.perf_counter()
    bank.add_cases(cases, dedup=False)
    load_s = time.perf_counter() - start
    variants: dict[str, Callable[[], list[Any]]] = {
        "bare agent": lambda: [],
        "memory, read only (select + show)": lambda: [
            MementoMiddleware(case_bank=bank, home=folder, learn=False)
        ],
        "memory, learning (+ write case, Q step)": lambda: [
            MementoMiddleware(case_bank=bank, home=folder, reward=lambda state: 1.0)
        ],
    }
    agents = {name: _agent(build()) for name, build in variants.items()}
    for agent in agents.values():  # warm-up: model load, torch, the Q network
        _timed(agent, questions[0])
    times: dict[str, list[float]] = {name: [] for name in agents}
    order = list(agents)
    for i in range(n_tasks):  # each variant its own questions (no embedding shared between them)
        for j, name in enumerate(order[i % len(order) :] + order[: i % len(order)]):
            times[name].append(_timed(agents[name], questions[1 + 3 * i + j]))

    base = statistics.median(times["bare agent"])
    print(f"MementoMiddleware overhead: {len(cases):,} upstream cases (MiniLM, embedded Chroma; "
          f"loaded in {load_s:.1f} s), k=4, {n_tasks} runs per variant, medians")  # fmt: skip
    print()
    print("| Agent | Median per run (ms) | Ratio to bare | Added (ms) |")
    print("|---|---:|---:|---:|")
    result: dict[str, Any] = {"cases": len(cases), "tasks": n_tasks, "variants": {}}
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {1000 * med:.1f} | {med / base:.2f}x | {1000 * (med - base):.1f} |")
        result["variants"][name] = {"median_s": med, "ratio": med / base}
    print()
    print(f"reproduce: python benchmarks/middleware.py{' --quick' if args.quick else ''}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
