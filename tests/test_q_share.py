"""Q sharing: workers log transitions, one trainer learns and publishes versions workers load.

Checked on both engines: a shared folder (SQLite log in WAL mode, atomic checkpoint files) and
PostgreSQL (a transitions table read by transaction order, weights as bytea rows).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.case_bank import CaseBank
from memento.memory.q.checkpoint import state_digest
from memento.memory.q.share import (
    QTrainer,
    QWorker,
    TrainerBusyError,
    open_share,
    take_trainer_lock,
)
from memento.memory.q.share.transitions import PgTransitionLog
from memento.memory.q.share.weights import PgWeights
from memento.settings import get_settings
from memento.testing import HashEmbeddings, make_case
from tests.support.q import toy_bank, toy_config
from tests.support.q_share_child import append_many, transition

N_PROCS, PER_PROC = 3, 15


@pytest.fixture(params=["dir", pytest.param("pg", marks=[pytest.mark.services])])
def share_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A folder share, or a Postgres share in a fresh database (services)."""
    if request.param == "dir":
        return str(tmp_path / "share")
    return str(request.getfixturevalue("postgres_db"))


def test_published_version_reaches_worker_at_next_task(share_spec: str, tmp_path: Path) -> None:
    bank, good, bad = toy_bank(tmp_path)
    share = open_share(share_spec, bank, channel="test")
    worker = QWorker(bank, share, toy_config())
    trainer = QTrainer(bank, share, tmp_path / "trainer", toy_config())
    assert worker.version == 0 and share.weights.version() == 0
    for i, cid in enumerate(good + bad):
        worker.record(f"task {i}", [cid], [cid], 1.0 if cid in good else 0.0, key=f"k{i}")
    assert share.log.count() == 12
    report = trainer.poll()
    assert (report.read, report.learned, report.version) == (12, 12, 1)
    assert worker.version == 0  # mid-task: the worker keeps the weights it started with
    selector = worker.selector()  # the next task starts
    assert worker.version == 1 and selector.network is worker.network
    assert state_digest(worker.network) == state_digest(trainer.learner.network)
    loads = worker.loads
    worker.selector()
    worker.selector()
    assert worker.loads == loads  # an unchanged version is checked, not loaded again


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the torn file, refused
def test_worker_never_loads_a_half_written_version(
    share_spec: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bank, good, _ = toy_bank(tmp_path)
    share = open_share(share_spec, bank, channel="test")
    trainer = QTrainer(bank, share, tmp_path / "trainer", toy_config())
    worker = QWorker(bank, share, toy_config())
    stop = threading.Event()
    seen: list[int] = []

    def publish_forever() -> None:
        i = 0
        while not stop.is_set():
            share.log.append(transition(i, good))
            trainer.poll()
            i += 1

    publisher = threading.Thread(target=publish_forever)
    publisher.start()
    try:
        other = open_share(share_spec, bank, channel="test")  # own connection, like a process
        reader = QWorker(bank, other, toy_config())
        deadline = time.monotonic() + 30  # a liveness bound, not a timing assertion
        versions: set[int] = set()
        while len(versions) < 4 and time.monotonic() < deadline:
            seen.append(reader.refresh())
            versions.add(seen[-1])
            # A worker checks between tasks, not in a busy loop: spinning here (and rebuilding
            # a set of every reading, as this loop once did) starves the trainer of the GIL.
            time.sleep(0.001)
    finally:
        stop.set()
        publisher.join()
    assert len(set(seen)) >= 3 and seen == sorted(seen)  # it loaded new versions, forward only
    assert "unusable" not in caplog.text  # every load matched its published digest

    # A publication that dies half-way leaves the previous version in force.
    current = worker.refresh()
    digest = state_digest(worker.network)
    if share_spec.startswith("postgres"):
        with pytest.raises(RuntimeError), psycopg.connect(share_spec) as conn:
            conn.execute(
                "INSERT INTO memento_q_weights (channel, version, created_at, meta, weights)"
                " VALUES ('test', %s, '', '{}', '\\x00')",
                (current + 1,),
            )
            raise RuntimeError("trainer killed before commit")
    else:
        folder = Path(share_spec) / "test"
        (folder / ".q.pt.crash.tmp").write_bytes(b"half a checkpoint")
        (folder / "q.pt").write_bytes(b"\x80 torn")  # even a torn file in place is refused
        text = (folder / "q.json").read_text()
        (folder / "q.json").write_text(text.replace(f'"version": {current}', '"version": 999'))
    with caplog.at_level(logging.WARNING):
        assert worker.refresh() == current
    assert state_digest(worker.network) == digest


@pytest.mark.integration  # spawns worker processes
def test_every_worker_transition_reaches_the_trainer_once(share_spec: str, tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    share = open_share(share_spec, bank, channel="test")
    trainer = QTrainer(bank, share, tmp_path / "trainer", toy_config(), namespace="default")
    mp = multiprocessing.get_context("spawn")
    procs = [
        mp.Process(target=append_many, args=(share_spec, p, good, PER_PROC)) for p in range(N_PROCS)
    ]
    for proc in procs:
        proc.start()
    while any(p.is_alive() for p in procs):
        trainer.poll()  # reading while they write
        time.sleep(0.05)
    assert all(p.exitcode == 0 for p in procs)
    trainer.drain()
    keys = [t.key for t in trainer.learner.replay.all()]
    expected = {f"p{p}-t{i}" for p in range(N_PROCS) for i in range(PER_PROC)}
    assert len(keys) == len(expected) == N_PROCS * PER_PROC
    assert set(keys) == expected
    assert trainer.learned == N_PROCS * PER_PROC
    assert share.log.count() == N_PROCS * PER_PROC  # retries were not stored twice


@pytest.mark.services
def test_pg_log_waits_for_a_transaction_that_commits_late(postgres_db: str, tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    log = PgTransitionLog(postgres_db, channel="test")
    slow = psycopg.connect(postgres_db)  # not autocommit: its insert takes a lower id
    slow_log = PgTransitionLog.__new__(PgTransitionLog)
    slow_log.channel, slow_log._lock, slow_log._conn = "test", threading.Lock(), slow
    slow_log.append(transition(0, good, proc=1))  # id 1, uncommitted
    log.append(transition(1, good, proc=2))  # id 2, committed
    rows, cursor = log.read_after((0, 0))
    assert rows == []  # id 2 is not handed out while id 1 may still commit before it
    slow.commit()
    rows, cursor = log.read_after(cursor)
    assert [t.key for t in rows] == ["p1-t0", "p2-t1"]
    assert log.read_after(cursor)[0] == []
    slow.close()


def test_second_trainer_is_refused_and_restart_resumes(share_spec: str, tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    share = open_share(share_spec, bank, channel="test")
    first = QTrainer(bank, share, tmp_path / "t1", toy_config())
    first.acquire()
    with pytest.raises(TrainerBusyError):
        QTrainer(bank, open_share(share_spec, bank, channel="test"), tmp_path / "t2").acquire()
    for i in range(5):
        share.log.append(transition(i, good))
    assert first.poll().learned == 5
    # A restarted trainer continues from the published cursor: nothing is learned twice.
    again = QTrainer(bank, open_share(share_spec, bank, channel="test"), tmp_path / "t1")
    assert again.cursor == first.cursor and again.learned == 5
    assert again.poll().read == 0
    share.log.append(transition(5, good))
    assert again.poll().learned == 1
    published = share.weights.load()
    assert published is not None
    assert state_digest(again.learner.network) == state_digest(published.network)


def test_relabel_reaches_the_trainer(tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    share = open_share(tmp_path / "share", bank, channel="test")
    trainer = QTrainer(bank, share, tmp_path / "trainer", toy_config())
    worker = QWorker(bank, share, toy_config())
    worker.record("a task", [good[0]], None, 0.0, key="thread-1")
    assert worker.record("a task", [good[0]], None, 0.0, key="thread-1").duplicate
    worker.record("a task", [good[0]], None, 1.0, key="thread-1", relabel=True)
    trainer.drain()
    [stored] = trainer.learner.replay.all()
    assert (stored.key, stored.reward) == ("thread-1", 1.0)
    with pytest.raises(ValueError, match="reward"):
        worker.record("a task", [good[0]], None, 2.0, key="thread-2")
    assert share.log.count() == 2


def test_shown_labels_reach_the_trainer(share_spec: str, tmp_path: Path) -> None:
    """The labels a worker's cases were shown with travel through the log to the trainer."""
    bank, good, _ = toy_bank(tmp_path)
    share = open_share(share_spec, bank, channel="test")
    trainer = QTrainer(bank, share, tmp_path / "trainer", toy_config())
    worker = QWorker(bank, share, toy_config())
    worker.record("a task", good[:2], None, 1.0, key="t1", shown_labels=["negative", "positive"])
    worker.record("a task", good[:1], None, 0.0, key="t2")  # a caller that does not say
    trainer.drain()
    stored = {t.key: t.shown_labels for t in trainer.learner.replay.all()}
    assert stored == {"t1": ("negative", "positive"), "t2": None}
    share.close()


@pytest.mark.services
def test_pg_weights_keep_only_recent_versions(postgres_db: str, tmp_path: Path) -> None:
    bank, _, _ = toy_bank(tmp_path)
    share = open_share(postgres_db, bank, channel="test")
    assert isinstance(share.weights, PgWeights)
    network = QWorker(bank, share, toy_config()).network
    for _ in range(7):
        share.weights.publish(network, step=0, extra={})
    with psycopg.connect(postgres_db) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM memento_q_weights ORDER BY 1")]
    assert versions == [3, 4, 5, 6, 7]


def test_serve_trainer_cli_learns_publishes_and_refuses_a_second_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    get_settings.cache_clear()
    bank = CaseBank.from_settings()
    ids = bank.add_cases([make_case(f"case number {i} about rivers") for i in range(3)])
    share = open_share(tmp_path / "share", bank, channel="default")
    worker = QWorker(bank, share)
    for i, cid in enumerate(ids):
        worker.record(f"task {i}", [cid], None, 1.0, key=f"k{i}")
    runner = CliRunner()
    argv = ["q", "serve-trainer", "--share", str(tmp_path / "share"), "--once"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "learned 3 transitions; published v1" in result.stdout
    assert worker.selector() is not None and worker.version == 1
    held = take_trainer_lock(share.spec, share.channel)
    try:
        busy = runner.invoke(app, argv)
        assert busy.exit_code == 1 and "another trainer" in busy.stderr
    finally:
        held.close()
    assert "error: no share" in runner.invoke(app, ["q", "serve-trainer", "--once"]).stderr
    get_settings.cache_clear()


def test_settings_turn_the_graph_learner_into_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memento.graphs import Context
    from memento.graphs.deps import Deps

    bank, good, _ = toy_bank(tmp_path)
    monkeypatch.setenv("MEMENTO_Q_SHARE", str(tmp_path / "share"))
    get_settings.cache_clear()
    try:
        ctx = Context(namespace="team-a", home=str(tmp_path), q_form="mlp")
        learner = Deps(case_bank=bank).q_learner(ctx)
    finally:
        get_settings.cache_clear()
    assert isinstance(learner, QWorker) and learner.share.channel == "team-a"
    learner.record("a task", [good[0]], None, 1.0, key="run-1")
    assert (tmp_path / "share" / "team-a" / "transitions.sqlite").exists()
    assert not (tmp_path / "q").exists()  # nothing trains in this process
