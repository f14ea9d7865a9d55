"""The kill-and-resume worker process, and the helpers the tests drive it with.

Usage: python kill_worker.py HOME THREAD_ID, configured by environment only, as any deployment:
MEMENTO_CHECKPOINTER (a SQLite path or a postgres:// DSN) and either MEMENTO_CHROMA_URL (+
MEMENTO_COLLECTION) for the server bank or MEMENTO_HOME for the embedded one in HOME/chroma.
The `step` tool logs each call to HOME/calls.log and, with BLOCK_AT=n, hangs on its n-th call so
that the test can SIGKILL the process there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.tools import tool

from memento.graphs import Context, build_graph
from memento.infra.checkpointers import open_checkpointer
from memento.memory.case_bank import CaseBank
from memento.settings import get_settings
from memento.testing import HashEmbeddings, RecordingLearner

WORKER = Path(__file__)
TASK = "Plan a three step trip to Rome"
SEED_TASK = "Plan a three step trip to Paris"
SEED_PLAN = {"plan": [{"id": i, "description": f"leg {i} of the trip"} for i in (1, 2, 3)]}
"""The seed case the tests store first: its three legs become the worker's three subtasks."""


def worker_env(**memento: str) -> dict[str, str]:
    """This environment without any MEMENTO_* variable, plus `memento` (e.g. MEMENTO_HOME=...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMENTO_")}
    env.update(memento, PYTHONPATH=str(WORKER.parents[2]))
    return env


def run_worker(home: Path, thread: str, env: dict[str, str]) -> dict[str, str]:
    """Run the worker on `thread` to the end; its JSON line (answer, case_id)."""
    done = subprocess.run(
        [sys.executable, str(WORKER), str(home), thread],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def kill_in_second_step(home: Path, thread: str, env: dict[str, str]) -> None:
    """Start the worker with BLOCK_AT=2 and SIGKILL it while its second subtask hangs.

    Fails the test if the worker exits early or never reaches the second subtask.
    """
    import pytest

    log = home / "calls.log"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(home), thread],
        env={**env, "BLOCK_AT": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail(f"worker exited early: {proc.stderr.read().decode()[-3000:]}")
        time.sleep(0.1)
    else:
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail("worker never reached the second subtask")
    time.sleep(0.5)  # the second subtask hangs in flight; the first is checkpointed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def make_step(home: Path) -> Any:
    """The `step` tool: logs each call to HOME/calls.log; hangs on call BLOCK_AT if set."""

    @tool
    def step(query: str) -> str:
        """Carry out one step (logged; may hang on purpose)."""
        log = home / "calls.log"
        with log.open("a") as f:
            f.write(query + "\n")
        calls = len(log.read_text().splitlines())
        if os.environ.get("BLOCK_AT") and calls == int(os.environ["BLOCK_AT"]):
            while True:
                time.sleep(1)
        return f"done: {query}"

    return step


async def main(home: Path, thread: str) -> None:
    """Run (or resume) `thread` with the checkpointer and case bank the settings name."""
    settings = get_settings()
    assert settings.checkpointer, "set MEMENTO_CHECKPOINTER"
    bank = CaseBank.from_settings(settings, embeddings=HashEmbeddings(), dedup_threshold=None)
    async with open_checkpointer(settings.checkpointer) as saver:
        graph = build_graph(
            checkpointer=saver,
            planner="offline",
            executor="offline",
            tools=[make_step(home)],
            case_bank=bank,
            learner=RecordingLearner(),
        )
        config: Any = {"configurable": {"thread_id": thread}}
        snapshot = await graph.aget_state(config)
        payload: Any = None if snapshot.values else {"task": TASK, "ground_truth": "Rome"}
        ctx = Context(k=2, reward_metric="pm", learn=True)
        out = await graph.ainvoke(payload, config, context=ctx, durability="sync")
        print(json.dumps({"answer": out.get("answer"), "case_id": out.get("case_id")}))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
