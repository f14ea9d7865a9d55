"""Runs survive their workers: Postgres checkpoints plus the Chroma server bank, by env only.

A worker configured only through MEMENTO_CHECKPOINTER (a postgres:// DSN) and
MEMENTO_CHROMA_URL is SIGKILLed mid-task; another process resumes the same thread id from
Postgres without redoing finished subtasks, and the run's case lands on the server once.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from memento.memory.case_bank import CaseBank
from memento.testing import HashEmbeddings
from tests.support.kill_worker import (
    SEED_PLAN,
    SEED_TASK,
    kill_in_second_step,
    run_worker,
    worker_env,
)

pytestmark = [pytest.mark.services, pytest.mark.integration]


def test_postgres_worker_killed_then_resumed_by_another(
    chroma_url: str, postgres_db: str, tmp_path: Path
) -> None:
    collection = f"resume_{uuid.uuid4().hex[:10]}"
    bank = CaseBank(
        url=chroma_url, collection=collection, embeddings=HashEmbeddings(), dedup_threshold=None
    )
    bank.add(SEED_TASK, SEED_PLAN, reward=1.0, case_id="seed")
    log = tmp_path / "calls.log"
    env = worker_env(
        MEMENTO_CHECKPOINTER=postgres_db,
        MEMENTO_CHROMA_URL=chroma_url,
        MEMENTO_COLLECTION=collection,
    )
    kill_in_second_step(tmp_path, "trip", env)
    assert [c.id for c in bank.list()] == ["seed"]  # killed before writing its case

    with psycopg.connect(postgres_db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("trip",)
        ).fetchone()
    assert row is not None and row[0] > 0  # the checkpoints are in Postgres

    result = run_worker(tmp_path, "trip", env)  # another process, same thread id
    calls = log.read_text().splitlines()
    assert len(calls) == 4, calls  # leg 1, leg 2 (killed), leg 2 again, leg 3
    assert sum("leg 1" in c for c in calls) == 1
    assert sum("leg 3" in c for c in calls) == 1
    assert result["answer"] and "leg 3" in result["answer"]
    runs = [c for c in bank.list() if c.source == "memento-run"]
    assert [c.id for c in runs] == [result["case_id"]]

    # A third process finds the thread finished in Postgres: nothing left to run.
    snapshot = asyncio.run(thread_state(postgres_db, "trip"))
    assert not snapshot.next and snapshot.values["case_id"] == result["case_id"]


async def thread_state(dsn: str, thread: str) -> Any:
    from memento.graphs import build_graph
    from memento.infra.checkpointers import open_checkpointer

    async with open_checkpointer(dsn) as saver:
        graph = build_graph(checkpointer=saver, planner="offline", executor="offline")
        config: Any = {"configurable": {"thread_id": thread}}
        return await graph.aget_state(config)


def test_cli_run_uses_both_servers_from_env_only(
    chroma_url: str, postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from memento.cli.main import app
    from memento.settings import get_settings

    collection = f"cli_{uuid.uuid4().hex[:10]}"
    for var in [v for v in os.environ if v.startswith("MEMENTO_") or v.startswith("OPENAI_")]:
        monkeypatch.delenv(var)
    home = tmp_path / "home"
    monkeypatch.setenv("MEMENTO_HOME", str(home))
    monkeypatch.setenv("MEMENTO_LLM", "offline")
    monkeypatch.setenv("MEMENTO_CHROMA_URL", chroma_url)
    monkeypatch.setenv("MEMENTO_COLLECTION", collection)
    # Secrets in the DSN and the auth header (trust auth and an open server ignore them): they
    # must reach neither the output nor the checkpoints nor the bank.
    dsn = postgres_db.replace("postgres@", "postgres:pw-s3cret@", 1)
    monkeypatch.setenv("MEMENTO_CHECKPOINTER", dsn)
    monkeypatch.setenv("MEMENTO_CHROMA_AUTH_HEADER", "X-Chroma-Token: tok-s3cret")
    # Hashed embeddings instead of MiniLM: the model is not what this test is about.
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    get_settings.cache_clear()
    args = ["run", "What is 6 times 7?", "-g", "42", "--tools", "calculator"]
    args += ["--thread-id", "t-42", "--json"]
    try:
        first = CliRunner().invoke(app, args)
        again = CliRunner().invoke(app, args)
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    result = json.loads(first.output.strip().splitlines()[-1])
    assert result["case_id"] == "run:default:t-42" and result["reward"] is not None
    bank = CaseBank(url=chroma_url, collection=collection, embeddings=HashEmbeddings())
    assert [c.id for c in bank.list()] == ["run:default:t-42"]
    with psycopg.connect(postgres_db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("t-42",)
        ).fetchone()
        stored = conn.execute(
            "SELECT string_agg(checkpoint::text || metadata::text, '') FROM checkpoints"
        ).fetchone()
        blobs = conn.execute("SELECT string_agg(encode(blob, 'escape'), '') FROM checkpoint_blobs")
        blob_text = (blobs.fetchone() or [""])[0] or ""
    assert row is not None and row[0] > 0
    saved = str(stored) + blob_text + json.dumps([c.model_dump() for c in bank.list()])
    for secret in ("pw-s3cret", "tok-s3cret"):
        assert secret not in first.output + again.output and secret not in saved
    # Nothing went to the embedded defaults under MEMENTO_HOME.
    assert not (home / "chroma").exists() and not (home / "checkpoints.sqlite").exists()
    # The finished thread is found in Postgres by a second invocation and not run again.
    assert again.exit_code == 0, again.output
    lines = [json.loads(x) for x in again.output.splitlines() if x.startswith("{")]
    assert [e["event"] for e in lines] == ["result"] and lines[0]["case_id"] == result["case_id"]


async def test_unreachable_servers_are_named_without_secrets() -> None:
    from memento.infra.checkpointers import open_checkpointer
    from memento.testing.services import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(ConnectionError, match=rf"memento:\*\*\*@127\.0\.0\.1:{port}/db") as err:
        async with open_checkpointer(f"postgresql://memento:pw-s3cret@127.0.0.1:{port}/db"):
            pass
    assert "pw-s3cret" not in str(err.value)
    with pytest.raises(ConnectionError, match=rf"http://127\.0\.0\.1:{port}"):
        CaseBank(url=f"http://127.0.0.1:{port}", collection="nowhere", embeddings=HashEmbeddings())
