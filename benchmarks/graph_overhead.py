"""Graph overhead per task: the LangGraph M-MDP graph against the same work in a plain loop.

Both sides make the same calls to the same zero-latency model (the offline stand-in) and the
same tool; memory is off so that only orchestration and checkpointing differ. Reports the
median over N tasks, the ratio, and the size of one thread's checkpoints in SQLite.

Reproduce: python benchmarks/graph_overhead.py [--tasks 50]   (--quick: 10 tasks, a smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from memento.graphs import Context, build_graph
from memento.graphs.offline_model import OfflineChatModel
from memento.graphs.planner_output import parse_planner_output
from memento.graphs.prompts import (
    EXECUTOR_SYSTEM,
    EXECUTOR_USER,
    INSTRUCT_FIRST,
    INSTRUCT_REPLAN,
    PLANNER_SYSTEM,
    PLANNER_USER,
)
from memento.scoring.metrics import score


@tool
def lookup(query: str) -> str:
    """Return a fixed fact."""
    return "The answer is 42."


CTX = Context(selection="none", learn=False, max_cycles=2)


def memory_off_graph(checkpointer: Any, model: OfflineChatModel) -> Any:
    """The graph with `model` in both roles and the `lookup` tool; no case bank, no learner.

    With CTX (selection none, learn off) the graph never touches memory, so placeholders stand
    in for the bank and the learner and only orchestration and checkpointing are measured.
    """
    return build_graph(
        checkpointer=checkpointer,
        planner=model,
        executor=model,
        tools=[lookup],
        case_bank=object(),
        learner=object(),
    )


async def plain_loop(model: OfflineChatModel, task: str) -> str:
    """The same model and tool calls as the graph, without LangGraph."""
    empty = "(none)"
    first = PLANNER_USER.format(
        task=task,
        positive_cases=empty,
        negative_cases=empty,
        subtask_results="(none yet)",
        instructions=INSTRUCT_FIRST,
    )
    out = parse_planner_output(
        (await model.ainvoke([SystemMessage(PLANNER_SYSTEM), HumanMessage(first)])).text
    )
    results = []
    bound = model.bind_tools([lookup])
    for step in out.plan or []:
        msgs: list[Any] = [
            SystemMessage(EXECUTOR_SYSTEM.format(task=task, previous=empty)),
            HumanMessage(EXECUTOR_USER.format(subtask=step.description)),
        ]
        reply = await bound.ainvoke(msgs)
        for call in reply.tool_calls:
            msgs += [reply, ToolMessage(lookup.invoke(call["args"]), tool_call_id=call["id"])]
        reply = await bound.ainvoke(msgs)
        results.append(f'<result id="{step.id}" ok="True"><output>{reply.text}</output></result>')
    second = PLANNER_USER.format(
        task=task,
        positive_cases=empty,
        negative_cases=empty,
        subtask_results="\n".join(results),
        instructions=INSTRUCT_REPLAN.format(cycles_left=1),
    )
    final = parse_planner_output(
        (await model.ainvoke([SystemMessage(PLANNER_SYSTEM), HumanMessage(second)])).text
    )
    score(final.answer, "42")
    return final.answer or ""


async def timed(fn: Any, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        await fn(i)
        times.append(time.perf_counter() - start)
    return times


async def main(n: int, quick: bool = False) -> None:
    model = OfflineChatModel()
    task = "What is the answer to everything?"
    rows: list[tuple[str, float]] = []
    loop_t = await timed(lambda i: plain_loop(model, task), n)
    rows.append(("plain Python loop", statistics.median(loop_t)))
    mem = memory_off_graph(InMemorySaver(), model)
    mem_t = await timed(
        lambda i: mem.ainvoke(
            {"task": task, "ground_truth": "42"},
            {"configurable": {"thread_id": f"m{i}"}},
            context=CTX,
        ),
        n,
    )
    rows.append(("graph, in-memory checkpointer", statistics.median(mem_t)))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ckpt.sqlite"
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            sq = memory_off_graph(saver, model)
            sq_t = await timed(
                lambda i: sq.ainvoke(
                    {"task": task, "ground_truth": "42"},
                    {"configurable": {"thread_id": f"s{i}"}},
                    context=CTX,
                    durability="sync",
                ),
                n,
            )
        rows.append(("graph, SQLite checkpointer (sync durability)", statistics.median(sq_t)))
        con = sqlite3.connect(db)
        size = con.execute(
            "SELECT SUM(LENGTH(checkpoint)+LENGTH(metadata)) FROM checkpoints WHERE thread_id='s0'"
        ).fetchone()[0]
        writes = (
            con.execute("SELECT SUM(LENGTH(value)) FROM writes WHERE thread_id='s0'").fetchone()[0]
            or 0
        )
        count = con.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id='s0'").fetchone()[0]
        con.close()
    base = rows[0][1]
    print(
        f"Graph overhead per task, median of {n} tasks (zero-latency offline model, memory off)\n"
    )
    print("| variant | median ms/task | ratio to plain loop |")
    print("|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t * 1000:.2f} | {t / base:.1f}x |")
    print(
        f"\nOne thread's checkpoints in SQLite: {count} checkpoints, "
        f"{(size + writes) / 1024:.1f} KiB (checkpoint blobs + pending writes)"
    )
    given = "--quick" if quick else f"--tasks {n}"
    print(f"\nReproduce: python benchmarks/graph_overhead.py {given}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10 tasks (smoke run)")
    args = parser.parse_args()
    asyncio.run(main(10 if args.quick else args.tasks, args.quick))
