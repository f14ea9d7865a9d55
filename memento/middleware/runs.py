"""An agent run's record, kept next to the bank, and settling it: the case and the Q transition.

A run whose reward is not known when the agent ends stays pending: its record (task, plan, the
ids shown) waits in a side collection of the bank, keyed like its case, until `settle` is given
the reward (`MementoMiddleware.give_feedback`, `memento feedback --agent`). Settling a run is
idempotent per key: its case is written once (a later call relabels it, or the near-twin it was
merged into) and the learner stores its transition once (a changed reward relabels it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from memento.memory.learning import Learner, UpdateReport
from memento.memory.records import label_for

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

RUNS_SUFFIX = ".agent_runs"
"""Side collection (`<cases collection><suffix>`) of the middleware's run records."""
SOURCE = "memento-agent"
"""The `source` of cases written by the middleware."""


def case_key(namespace: str, thread_id: str | None, task: str) -> str:
    """The run's case id: by thread (a resumed thread writes once), else by task."""
    if thread_id:
        return f"agent:{namespace}:{thread_id}"
    digest = hashlib.sha256(f"{namespace}\n{task}".encode()).hexdigest()[:24]
    return f"agent:{namespace}:task-{digest}"


@dataclass(frozen=True)
class AgentRun:
    """What one agent thread did: enough to write its case and train Q on it later."""

    key: str
    """The case id (`case_key`)."""
    task: str
    """The task, secrets masked."""
    plan: dict[str, Any]
    """The trajectory as an upstream plan, secrets masked."""
    shown_ids: list[str] = field(default_factory=list)
    """Ids of the cases the model was shown."""
    namespace: str = "default"
    """Bank namespace of the case."""
    reward: float | None = None
    """The reward it was settled with (None: pending)."""
    shown_labels: list[str] | None = None
    """The shown cases' labels as the model saw them (None in runs saved before they were)."""


def save_run(bank: CaseBank, run: AgentRun) -> None:
    """Store (or replace) the run's record."""
    meta: dict[str, Any] = {"namespace": run.namespace, "pending": run.reward is None}
    if run.reward is not None:
        meta["reward"] = run.reward
    body = {
        "task": run.task,
        "plan": run.plan,
        "shown_ids": run.shown_ids,
        "shown_labels": run.shown_labels,
    }
    bank.side_collection(RUNS_SUFFIX).upsert(
        ids=[run.key],
        embeddings=[[1.0]],
        documents=[json.dumps(body, ensure_ascii=False)],
        metadatas=[meta],
    )


def load_run(bank: CaseBank, key: str) -> AgentRun | None:
    """The run stored under `key`, or None."""
    got = bank.side_collection(RUNS_SUFFIX).get(ids=[key], include=["documents", "metadatas"])
    if not got["ids"]:
        return None
    body = json.loads(got["documents"][0])
    meta = got["metadatas"][0] or {}
    reward = meta.get("reward")
    labels = body.get("shown_labels")
    return AgentRun(
        key=key,
        task=str(body["task"]),
        plan=dict(body["plan"]),
        shown_ids=[str(i) for i in body.get("shown_ids", [])],
        namespace=str(meta.get("namespace", "default")),
        reward=None if reward is None else float(reward),
        shown_labels=None if labels is None else [str(x) for x in labels],
    )


def pending_runs(bank: CaseBank, namespace: str | None = None) -> list[str]:
    """Keys of the runs still waiting for a reward."""
    where: dict[str, Any] = {"pending": True}
    if namespace is not None:
        where = {"$and": [where, {"namespace": namespace}]}
    got = bank.side_collection(RUNS_SUFFIX).get(where=where, include=[])
    return sorted(got["ids"])


def settle(
    bank: CaseBank,
    learner: Learner,
    run: AgentRun,
    reward: float,
    *,
    lock: threading.Lock | None = None,
) -> tuple[str, UpdateReport]:
    """Write (or relabel) the run's case with `reward` and record its Q transition.

    Returns the id of the case holding the run and the learner's report.

    Raises:
        ValueError: a reward outside [0, 1].
    """
    if not 0.0 <= reward <= 1.0:
        raise ValueError(f"reward must be in [0, 1], got {reward}")
    label = label_for(reward)
    holder = bank.resolve(run.key)
    if holder is not None:  # a replayed hook or feedback: one case per run, relabelled
        bank.update(holder, reward=reward, label=label)
        case_id = holder
    else:
        case_id = bank.add(
            run.task, run.plan, reward=reward, label=label, source=SOURCE,
            namespace=run.namespace, case_id=run.key,
        )  # fmt: skip
    report = record(learner, run, reward, lock=lock)
    save_run(bank, replace(run, reward=reward))
    return case_id, report


def record(
    learner: Learner, run: AgentRun, reward: float, *, lock: threading.Lock | None = None
) -> UpdateReport:
    """The run's Q transition (all shown cases share the credit: an agent reports no usage)."""
    if not run.shown_ids:
        return UpdateReport(skipped="no cases")
    relabel = run.reward is not None and run.reward != reward
    used: Sequence[str] | None = None
    with lock or threading.Lock():
        return learner.record(
            run.task, run.shown_ids, used, reward,
            namespace=run.namespace, key=run.key, relabel=relabel, shown_labels=run.shown_labels,
        )  # fmt: skip
