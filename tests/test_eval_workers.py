"""`memento eval --workers W`: worker processes over a Chroma server and Postgres checkpoints."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from typer.testing import CliRunner

from memento.cli.main import app
from memento.eval.datasets import Task, load_dataset
from memento.eval.results import ResultsWriter, read_results
from memento.eval.run_config import EvalConfig
from memento.eval.workers import WorkersConfigError, run_eval_workers
from memento.graphs import Context
from memento.graphs.offline_model import OfflineChatModel
from memento.memory.case_bank import CaseBank
from memento.settings import get_settings
from memento.testing import HashEmbeddings

CITIES = {"France": "Paris", "Japan": "Tokyo", "Peru": "Lima", "Chile": "Santiago"}
QUESTIONS = [
    (f"{form} {country}?", city)
    for form in ("What is the capital of", "Which city is the capital of")
    for country, city in CITIES.items()
]
VICTIM = "Which city is the capital of Peru?"


class KillOnce(OfflineChatModel):
    """The offline planner, except that the first process to plan VICTIM dies on the spot."""

    marker: str
    """File created by the process that dies (so only one does)."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if any(VICTIM in m.text for m in messages) and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(3)  # a killed worker: no cleanup, no message
        return super()._generate(messages, stop, run_manager, **kwargs)


@pytest.fixture
def tasks(tmp_path: Path) -> list[Task]:
    path = tmp_path / "capitals.jsonl"
    rows = [{"question": q, "ground_truth": [a], "data_source": "geo"} for q, a in QUESTIONS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return load_dataset(path).tasks


@pytest.fixture
def servers(
    chroma_url: str, postgres_db: str, monkeypatch: pytest.MonkeyPatch, request: Any
) -> Iterator[tuple[str, str]]:
    """MEMENTO_CHROMA_URL, a fresh collection and MEMENTO_CHECKPOINTER for this test."""
    monkeypatch.setenv("MEMENTO_CHROMA_URL", chroma_url)
    monkeypatch.setenv("MEMENTO_COLLECTION", f"w_{request.node.name[-40:]}".replace("[", "_"))
    monkeypatch.setenv("MEMENTO_CHECKPOINTER", postgres_db)
    get_settings.cache_clear()
    yield chroma_url, postgres_db
    get_settings.cache_clear()


def _config(out: Path, memory: str, q_form: str = "kernel", **kw: Any) -> EvalConfig:
    ctx = Context(llm="offline", tools="calculator", reward_metric="pm", k=2, q_form=q_form)  # type: ignore[arg-type]
    return EvalConfig(memory=memory, out=out, context=ctx, **kw)  # type: ignore[arg-type]


def _keys(out: Path) -> Counter[tuple[str, int]]:
    return Counter(r.key for r in read_results(out))


def test_more_than_one_worker_on_the_embedded_store_is_refused(
    tmp_path: Path, tasks: list[Task], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MEMENTO_CHROMA_URL", "MEMENTO_CHECKPOINTER"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    out = tmp_path / "run"
    with pytest.raises(WorkersConfigError, match="MEMENTO_CHROMA_URL.*MEMENTO_CHECKPOINTER"):
        run_eval_workers(tasks, _config(out, "similarity", workers=2), progress=False)
    assert not (out / "results.jsonl").exists()
    data = tmp_path / "capitals.jsonl"
    result = CliRunner().invoke(
        app, ["eval", str(data), "--out", str(out), "--llm", "offline", "--workers", "3"]
    )
    assert result.exit_code == 2
    assert "--workers 3 needs server-backed memory" in result.stderr
    assert not (out / "results.jsonl").exists()


@pytest.mark.services
def test_workers_share_memory_survive_a_killed_worker_and_resume(
    servers: tuple[str, str], tmp_path: Path, tasks: list[Task]
) -> None:
    chroma, dsn = servers
    out = tmp_path / "run"
    killer = KillOnce(marker=str(tmp_path / "killed"))
    summary = run_eval_workers(
        tasks, _config(out, "similarity", epochs=2, workers=2), planner=killer,
        executor="offline", embeddings=HashEmbeddings(), progress=False,
    )  # fmt: skip
    assert (tmp_path / "killed").exists()  # one worker died mid-task
    rows = read_results(out)
    assert _keys(out) == Counter({(t.task_id, e): 1 for t in tasks for e in (1, 2)})
    assert summary.ran == 16 and all(r.error is None for r in rows)
    victim = next(r for r in rows if r.question == VICTIM and r.epoch == 1)
    tag = (out / "run_tag").read_text().strip()  # shared servers: this run's ids are scoped
    assert victim.thread_id == f"eval:{tag}:similarity:e1:" + victim.task_id
    # Resumed by the other worker from the Postgres checkpoint of the same thread.
    with psycopg.connect(dsn) as conn:
        found = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", (victim.thread_id,)
        ).fetchone()
    assert found is not None and found[0] > 0
    # The shared bank: every epoch-1 task wrote one case, which epoch 2 retrieves.
    bank = CaseBank.from_settings(embeddings=HashEmbeddings())
    written = [r.case_written for r in rows if r.epoch == 1]
    assert len(set(written)) == 8 and bank.count(f"eval-similarity-{tag}") == 8
    assert all(r.case_ids for r in rows if r.epoch == 2)

    # Resume: rows lost from the file are run again, once each; the rest is skipped.
    kept = rows[:10]
    (out / "results.jsonl").unlink()
    with ResultsWriter(out) as writer:
        for row in kept:
            writer.append(row)
    again = run_eval_workers(
        tasks, _config(out, "similarity", epochs=2, workers=2), planner="offline",
        executor="offline", embeddings=HashEmbeddings(), progress=False,
    )  # fmt: skip
    assert (again.ran, again.skipped) == (6, 10)
    assert _keys(out) == Counter({(t.task_id, e): 1 for t in tasks for e in (1, 2)})
    assert bank.count(f"eval-similarity-{tag}") == 8  # resumed threads wrote no case twice


@pytest.mark.services
def test_q_mode_workers_feed_one_trainer(
    servers: tuple[str, str], tmp_path: Path, tasks: list[Task]
) -> None:
    _, dsn = servers
    out = tmp_path / "run"
    run_eval_workers(
        tasks, _config(out, "q", q_form="mlp", epochs=2, workers=2), planner="offline",
        executor="offline", embeddings=HashEmbeddings(), progress=False,
    )  # fmt: skip
    rows = read_results(out)
    assert _keys(out) == Counter({(t.task_id, e): 1 for t in tasks for e in (1, 2)})
    shown = {r.thread_id for r in rows if r.case_ids}
    assert len(shown) >= 8  # every epoch-2 task at least saw cases
    channel = "eval-q-" + (out / "run_tag").read_text().strip()
    with psycopg.connect(dsn) as conn:
        logged = conn.execute(
            "SELECT key FROM memento_q_transitions WHERE channel = %s", (channel,)
        ).fetchall()
        versions = conn.execute(
            "SELECT max(version), max((meta->'extra'->>'learned')::int)"
            " FROM memento_q_weights WHERE channel = %s",
            (channel,),
        ).fetchone()
    # Every worker's transition reached the trainer, once, keyed by its run's case id.
    assert len(logged) == len({k for (k,) in logged}) == len(shown)
    assert versions is not None and versions[0] >= 1 and versions[1] == len(shown)


@pytest.mark.services
def test_kernel_q_workers_share_one_run_log(
    servers: tuple[str, str], tmp_path: Path, tasks: list[Task]
) -> None:
    """The default (kernel) Q: no trainer; every worker appends to and reads one replay file."""
    from memento.memory.q.replay import ReplayBuffer

    out = tmp_path / "run"
    run_eval_workers(
        tasks, _config(out, "q", epochs=2, workers=2), planner="offline", executor="offline",
        embeddings=HashEmbeddings(), progress=False,
    )  # fmt: skip
    shown = {r.thread_id for r in read_results(out) if r.case_ids}
    assert len(shown) >= 8
    replay = ReplayBuffer(out / "store" / "q" / "q" / "replay.sqlite", capacity=None)
    keys = [t.key for t in replay.all()]
    replay.close()
    assert len(keys) == len(set(keys)) == len(shown)  # each worker's run logged once, in one file


@pytest.mark.services
def test_two_runs_sharing_the_servers_do_not_read_each_others_threads(
    servers: tuple[str, str], tmp_path: Path, tasks: list[Task]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        run_eval_workers(
            tasks, _config(out, "similarity", workers=2), planner="offline",
            executor="offline", embeddings=HashEmbeddings(), progress=False,
        )  # fmt: skip
    tags = {(out / "run_tag").read_text().strip() for out in (first, second)}
    assert len(tags) == 2  # each run folder got its own scope in the shared stores
    # The second run ran every task itself (it did not take the first run's finished threads).
    assert all((r.thread_id or "").split(":")[1] in tags for r in read_results(second))
    assert {r.thread_id for r in read_results(first)}.isdisjoint(
        r.thread_id for r in read_results(second)
    )
    bank = CaseBank.from_settings(embeddings=HashEmbeddings())
    assert [bank.count(f"eval-similarity-{tag}") for tag in sorted(tags)] == [8, 8]


def test_folder_local_runs_keep_untagged_ids_and_old_folders_resume(tmp_path: Path) -> None:
    from memento.eval.run_tag import resolve_run_tag

    assert resolve_run_tag(tmp_path / "local", shared=False) == ""
    tag = resolve_run_tag(tmp_path / "new", shared=True)
    assert tag and resolve_run_tag(tmp_path / "new", shared=True) == tag  # stable on resume
    old = tmp_path / "old"
    old.mkdir()
    (old / "results.jsonl").write_text("")
    assert resolve_run_tag(old, shared=True) == ""  # started before tags: keeps its ids
    (tmp_path / "new" / "run_tag").write_text("../../etc")
    with pytest.raises(ValueError, match="run_tag"):
        resolve_run_tag(tmp_path / "new", shared=True)
