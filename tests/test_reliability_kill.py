"""Kill -9 reliability: the seeded SIGKILL campaign (short in CI, full with MEMENTO_LONG=1).

Plus two deterministic reproductions of bugs the campaign found: a thread that died after a
step's writes were saved but before the next checkpoint looked finished (its case and Q update
were never written), and concurrent Q updates that corrupted the optimizer state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from memento.eval.run_config import EvalConfig
from memento.eval.runner import run_eval
from memento.eval.task_run import run_task
from memento.graphs import Context, build_graph
from memento.testing import RecordingLearner, capital_tools, make_bank
from tests.support.reliability.campaign_eval import lookup_tool, make_tasks

ROOT = Path(__file__).resolve().parents[1]


def campaign(*args: str, timeout: float) -> dict[str, Any]:
    """Run the campaign driver in a fresh interpreter and return its JSON report."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.reliability.kill_campaign", *args, "--json"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == (1 if report["problems"] else 0), done.stderr[-3000:]
    return report


def assert_nothing_lost(report: dict[str, Any], tasks: int, kills: int) -> None:
    check = report["check"]
    assert report["problems"] == []
    assert report["kills"] >= kills and report["crashes"] == report["stalls"] == 0
    assert check["rows"] == 2 * tasks and check["duplicates"] == check["missing"] == 0
    assert check["cases"] == 2 * tasks and report["lost"] == 0
    assert report["rerun_tool_calls"] == 0


@pytest.mark.integration
def test_kill_campaign_short() -> None:
    report = campaign("--tasks", "20", "--kills", "5", "--seed", "0", timeout=300)
    assert_nothing_lost(report, tasks=20, kills=5)


@pytest.mark.long
@pytest.mark.integration
def test_kill_campaign_full() -> None:
    report = campaign("--tasks", "200", "--kills", "50", "--seed", "0", timeout=1800)
    assert_nothing_lost(report, tasks=200, kills=50)


class Crash(BaseException):
    """Stands for the process dying: nothing in the graph or the runner catches it."""


class DiesBeforeCheckpoint(InMemorySaver):
    """A saver whose process 'dies' before saving the first checkpoint that changes `channel`.

    The step's own writes are already saved by then (LangGraph saves them as tasks finish),
    which is exactly where a SIGKILL between two steps leaves a thread.
    """

    def __init__(self, channel: str) -> None:
        super().__init__()
        self.channel, self.armed = channel, True

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        if self.armed and self.channel in new_versions:
            self.armed = False
            raise Crash
        return await super().aput(config, checkpoint, metadata, new_versions)


async def test_thread_killed_between_judge_and_write_memory_still_writes_its_case(
    tmp_path: Path,
) -> None:
    bank = make_bank(tmp_path / "chroma")
    saver = DiesBeforeCheckpoint("reward")
    graph = build_graph(
        checkpointer=saver,
        planner="offline",
        executor="offline",
        tools=capital_tools(),
        case_bank=bank,
        learner=RecordingLearner(),
    )
    task = make_tasks(1)[0].model_copy(
        update={"question": "What is the capital of France?", "ground_truth": ["Paris"]}
    )
    ctx = Context(reward_metric="pm", learn=True, namespace="eval-similarity")
    kw: dict[str, Any] = {
        "memory": "similarity",
        "epoch": 1,
        "ctx": ctx,
        "metric": "deepresearcher",
    }
    with pytest.raises(Crash):
        await run_task(graph, task, **kw)
    assert bank.count() == 0  # died after judge's writes, before write_memory ran
    row = await run_task(graph, task, **kw)
    assert row.error is None and row.reward == 1.0
    assert row.case_written == "run:eval-similarity:eval:similarity:e1:t0000"
    assert [c.id for c in bank.list()] == [row.case_written]


class OverlapDetectingLearner(RecordingLearner):
    """A learner that notices two `record` calls running at once (a real one corrupts then)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.overlaps = 0
        self._lock = threading.Lock()

    def record(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.inside += 1
            self.overlaps += self.inside > 1
        time.sleep(0.02)
        with self._lock:
            self.inside -= 1
        return super().record(*args, **kwargs)


async def test_concurrent_tasks_never_update_the_q_learner_at_once(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=None)
    for task in make_tasks(4):
        bank.add(task.question, {"plan": [{"id": 1, "description": "Look it up."}]}, reward=1.0,
                 namespace="eval-q")  # fmt: skip
    learner = OverlapDetectingLearner()

    class Picker:
        name = "fake-q"

        def select(self, task: str, **kw: Any) -> Any:
            from memento.memory.similarity import SimilaritySelector

            return SimilaritySelector(bank).select(task, **kw)

    learner.selector = lambda **_: Picker()  # type: ignore[attr-defined]
    config = EvalConfig(
        memory="q", out=tmp_path / "run", concurrency=4, context=Context(reward_metric="pm")
    )
    summary = await run_eval(
        make_tasks(12), config, planner="offline", executor="offline", tools=[lookup_tool()],
        case_bank=bank, learner=learner, progress=False,
    )  # fmt: skip
    assert summary.epochs[0].errors == 0
    assert len(learner.calls) == 12 and learner.overlaps == 0


def test_campaign_schedule_is_seeded() -> None:
    from tests.support.reliability.kill_campaign import schedule

    first = schedule(0, 50, 400, 0.1)
    assert first == schedule(0, 50, 400, 0.1) and first != schedule(1, 50, 400, 0.1)
    assert len(first) == 50 and len({p.calls for p in first}) == 50
    assert all(0 < p.calls < 400 for p in first)


def test_the_audit_notices_a_duplicate_row_and_a_lost_case(tmp_path: Path) -> None:
    from memento.eval.results import read_results
    from memento.memory.store import forget_clients
    from tests.support.reliability.campaign_eval import open_bank, run_modes
    from tests.support.reliability.store_checks import check_run

    tasks, out = make_tasks(3), tmp_path / "run"
    run_modes(out, tasks, modes=("similarity",), concurrency=1)
    assert check_run(out, tasks, ("similarity",)).problems == []
    # A task with two rows, as a second writer would leave it (our writer compacts on close).
    results = out / "results.jsonl"
    first = results.read_text(encoding="utf-8").splitlines()[0]
    with results.open("a", encoding="utf-8") as fh:
        fh.write(first + "\n")
    open_bank(out, "similarity").delete([read_results(out)[1].case_written or ""])
    forget_clients()
    check = check_run(out, tasks, ("similarity",))
    assert check.duplicates == 1 and check.lost_cases == 1 and check.lost == 1
    assert len(check.problems) == 2
