"""What must hold after a killed-and-resumed evaluation: one row per task, one case per thread.

`check_run` opens every store the run wrote, the way a fresh process would, and counts what is
duplicated, missing or lost: result rows per (mode, task, epoch), the case each finished thread
owns (its id, task and reward), the Chroma store answering a search, the Q checkpoint loading
without the learner's silent fallback, one replay transition per thread that saw cases, and
`PRAGMA integrity_check` on every SQLite file (checkpoints, replay, Chroma's own).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.runnables import RunnableConfig

from memento.eval.datasets import Task
from memento.eval.results import read_results
from memento.eval.run_config import CHECKPOINTS_FILE
from memento.eval.task_run import thread_id_for
from memento.nodes.write_memory import thread_case_id
from tests.support.reliability.campaign_eval import open_bank, q_dir, store_path


@dataclass
class RunCheck:
    """Counts over one finished run; `problems` lists each failed check in words."""

    rows: int = 0
    duplicates: int = 0
    missing: int = 0
    errors: int = 0
    cases: int = 0
    lost_cases: int = 0
    extra_cases: int = 0
    transitions: int = 0
    lost_transitions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Everything a finished task should have left behind but did not."""
        return self.missing + self.lost_cases + self.lost_transitions


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of one SQLite file ('ok' when sound)."""
    if not path.is_file():
        return "missing"
    conn = sqlite3.connect(path)
    try:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall())
    finally:
        conn.close()


def _case_id(thread: str | None, namespace: str) -> str:
    """The id `write_memory` gives the case of `thread` (so a resumed thread never writes twice)."""
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    return thread_case_id(config, {"task": ""}, namespace)  # type: ignore[typeddict-item]


def _check_rows(out: Path, tasks: Sequence[Task], modes: Sequence[str], check: RunCheck) -> None:
    rows = read_results(out)
    check.rows = len(rows)
    counts = Counter((r.memory, r.task_id, r.epoch) for r in rows)
    check.duplicates = sum(n - 1 for n in counts.values() if n > 1)
    expected = {(m, t.task_id, 1) for m in modes for t in tasks}
    check.missing = len(expected - set(counts))
    check.errors = sum(r.error is not None for r in rows)
    if check.duplicates or check.missing or check.errors:
        check.problems.append(
            f"result rows: {check.duplicates} duplicated, {check.missing} missing, "
            f"{check.errors} with an error"
        )


def _check_cases(out: Path, tasks: Sequence[Task], mode: str, check: RunCheck) -> None:
    bank = open_bank(out, mode)
    namespace = f"eval-{mode}"
    stored = {c.id: c for c in bank.list(namespace=namespace) if c.source == "memento-run"}
    rows = {r.task_id: r for r in read_results(out) if r.memory == mode}
    wanted: set[str] = set()
    for task in tasks:
        case_id = _case_id(thread_id_for(mode, 1, task.task_id), namespace)
        wanted.add(case_id)
        case, row = stored.get(case_id), rows.get(task.task_id)
        if case is None or row is None or row.case_written != case_id:
            check.lost_cases += 1
        elif case.task != task.question or case.reward != row.reward:
            check.problems.append(f"{mode}: case {case_id} does not match its row")
    check.cases += len(stored)
    check.extra_cases += len(set(stored) - wanted)
    if bank.count(namespace) != len(stored):
        check.problems.append(f"{mode}: {bank.count(namespace) - len(stored)} foreign records")
    hits = bank.search(tasks[0].question, k=3, namespace=namespace)
    if len(hits) != min(3, len(stored)):
        check.problems.append(f"{mode}: the Chroma store answered {len(hits)} hits, not 3")
    chroma_db = store_path(out, mode) / "chroma.sqlite3"
    if (verdict := integrity(chroma_db)) != "ok":
        check.problems.append(f"{chroma_db}: {verdict}")


def _check_q(out: Path, tasks: Sequence[Task], check: RunCheck) -> None:
    from memento.memory.q.checkpoint import CheckpointError, load_checkpoint
    from memento.memory.q.replay import ReplayBuffer

    folder = q_dir(out)
    bank = open_bank(out, "q")
    try:
        load_checkpoint(folder, embedding_model=bank.embedding_model)
    except CheckpointError as exc:
        check.problems.append(f"Q checkpoint does not load: {exc}")
    if corrupt := sorted(p.name for p in folder.glob("*.corrupt")):
        check.problems.append(f"the learner set aside a corrupt checkpoint: {corrupt}")
    replay_db = folder / "replay.sqlite"
    if (verdict := integrity(replay_db)) != "ok":
        check.problems.append(f"{replay_db}: {verdict}")
    replay = ReplayBuffer(replay_db, capacity=None)
    try:
        keys = Counter(t.key for t in replay.all())
    finally:
        replay.close()
    check.transitions = sum(keys.values())
    saw_cases = {
        _case_id(r.thread_id, "eval-q") for r in read_results(out) if r.memory == "q" and r.case_ids
    }
    check.lost_transitions = len(saw_cases - set(keys))
    twice = sum(n - 1 for n in keys.values() if n > 1)
    if check.lost_transitions or twice or set(keys) - saw_cases:
        check.problems.append(
            f"replay: {check.lost_transitions} transitions lost, {twice} stored twice, "
            f"{len(set(keys) - saw_cases)} without a row"
        )


def check_run(out: Path, tasks: Sequence[Task], modes: Sequence[str]) -> RunCheck:
    """Open every store of the run at `out` and count what was duplicated or lost."""
    check = RunCheck()
    _check_rows(out, tasks, modes, check)
    for mode in modes:
        _check_cases(out, tasks, mode, check)
    if check.lost_cases or check.extra_cases:
        check.problems.append(
            f"case bank: {check.lost_cases} finished threads without their case, "
            f"{check.extra_cases} cases without a thread"
        )
    if "q" in modes:
        _check_q(out, tasks, check)
    checkpoints = out / CHECKPOINTS_FILE
    if (verdict := integrity(checkpoints)) != "ok":
        check.problems.append(f"{checkpoints}: {verdict}")
    return check
