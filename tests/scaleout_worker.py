"""A worker process for the Postgres kill-and-resume test, configured by environment only.

Usage: python scaleout_worker.py HOME THREAD_ID, with MEMENTO_CHECKPOINTER (a postgres:// DSN)
and MEMENTO_CHROMA_URL / MEMENTO_COLLECTION set: the checkpointer and the case bank come from
`memento.settings`, as in any deployment. The `step` tool logs each call to HOME/calls.log and,
with BLOCK_AT=n, hangs on its n-th call so that the test can SIGKILL the process there.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.tools import tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memento.graphs import Context, build_graph  # noqa: E402
from memento.graphs.checkpointers import open_checkpointer  # noqa: E402
from memento.memory.case_bank import CaseBank  # noqa: E402
from memento.settings import get_settings  # noqa: E402
from tests.fakes import HashEmbeddings  # noqa: E402
from tests.graph_support import RecordingLearner  # noqa: E402

HOME = Path(sys.argv[1])
THREAD = sys.argv[2]
TASK = "Plan a three step trip to Rome"


@tool
def step(query: str) -> str:
    """Carry out one step (logged; may hang on purpose)."""
    log = HOME / "calls.log"
    with log.open("a") as f:
        f.write(query + "\n")
    calls = len(log.read_text().splitlines())
    if os.environ.get("BLOCK_AT") and calls == int(os.environ["BLOCK_AT"]):
        while True:
            time.sleep(1)
    return f"done: {query}"


async def main() -> None:
    settings = get_settings()
    assert settings.checkpointer and settings.chroma_url, "set MEMENTO_CHECKPOINTER and _CHROMA_URL"
    bank = CaseBank.from_settings(settings, embeddings=HashEmbeddings(), dedup_threshold=None)
    async with open_checkpointer(settings.checkpointer) as saver:
        graph = build_graph(
            checkpointer=saver,
            planner="offline",
            executor="offline",
            tools=[step],
            case_bank=bank,
            learner=RecordingLearner(),
        )
        config: Any = {"configurable": {"thread_id": THREAD}}
        snapshot = await graph.aget_state(config)
        payload: Any = None if snapshot.values else {"task": TASK, "ground_truth": "Rome"}
        ctx = Context(k=2, reward_metric="pm", learn=True)
        out = await graph.ainvoke(payload, config, context=ctx, durability="sync")
        print(json.dumps({"answer": out.get("answer"), "case_id": out.get("case_id")}))


if __name__ == "__main__":
    asyncio.run(main())
