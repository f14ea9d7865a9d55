"""A run killed with SIGKILL mid-execution resumes from its checkpoint without redoing work."""

from __future__ import annotations

from pathlib import Path

import pytest

from memento.memory.store import forget_clients
from memento.testing import make_bank
from tests.support.kill_worker import (
    SEED_PLAN,
    SEED_TASK,
    kill_in_second_step,
    run_worker,
    worker_env,
)


@pytest.mark.integration
def test_sigkill_mid_execution_then_resume(tmp_path: Path) -> None:
    bank = make_bank(tmp_path / "chroma", dedup_threshold=None)
    bank.add(SEED_TASK, SEED_PLAN, reward=1.0, case_id="seed")
    forget_clients()
    del bank
    log = tmp_path / "calls.log"
    # SQLite checkpoints and the embedded bank in HOME/chroma, as a single-machine install.
    env = worker_env(MEMENTO_HOME=str(tmp_path), MEMENTO_CHECKPOINTER=str(tmp_path / "ckpt.sqlite"))
    kill_in_second_step(tmp_path, "trip", env)

    result = run_worker(tmp_path, "trip", env)
    calls = log.read_text().splitlines()
    assert len(calls) == 4, calls  # 1, 2 (killed), 2 again, 3
    assert sum("leg 1" in c for c in calls) == 1
    assert sum("leg 3" in c for c in calls) == 1
    assert result["answer"] and "leg 3" in result["answer"]

    bank = make_bank(tmp_path / "chroma", dedup_threshold=None)
    runs = [c for c in bank.list() if c.source == "memento-run"]
    assert [c.id for c in runs] == [result["case_id"]]

    # Running the finished thread again does nothing new.
    run_worker(tmp_path, "trip", env)
    assert len(log.read_text().splitlines()) == 4
