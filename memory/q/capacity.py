"""Capacity of the case bank: the value of each case and the eviction rule past a budget.

Small, high-quality memory beats large memory (the Memento paper), so a namespace may carry a
budget of cases (`LearnerConfig.budget`). Past it, the lowest-value cases are evicted:

    value(c) = mean over the last `recent_tasks` tasks s of the namespace of Q(s, c)
               (the case's own reward when the replay buffer has no task of the namespace)
             + usage_weight * (times_helpful + 1) / (times_retrieved + 2)
             - age_weight * age_days / (age_days + age_half_days)

Ties go to the lower id. Cases listed in `protect` (e.g. the case just written) are never
evicted. Every eviction is logged at INFO on `memento.memory.q.learner` with its value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from memento.memory.q.config import all_cases, read_tasks
from memento.memory.q.selector import q_scores

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.config import LearnerConfig
    from memento.memory.q.network import QNetwork
    from memento.memory.q.replay import ReplayBuffer

logger = logging.getLogger("memento.memory.q.learner")


def case_values(
    bank: CaseBank,
    network: QNetwork,
    replay: ReplayBuffer,
    settings: LearnerConfig,
    namespace: str,
) -> dict[str, float]:
    """The eviction value of every case of `namespace` (see the module docstring)."""
    s = settings
    cases = {c.id: c for c in bank.list(namespace=namespace)}
    ids, vectors = all_cases(bank, network.config.case_side, namespace)
    recent = read_tasks(network, replay.recent(s.recent_tasks, namespace=namespace))
    q_mean = np.zeros(len(ids), dtype=np.float64)
    for t in recent:
        q_mean += q_scores(network, t.task_vector, vectors)
    now = datetime.now(UTC)
    values: dict[str, float] = {}
    for i, cid in enumerate(ids):
        case = cases.get(cid)
        if case is None:
            continue
        q_term = q_mean[i] / len(recent) if recent else case.reward
        usage = (case.times_helpful + 1) / (case.times_retrieved + 2)
        age = max((now - datetime.fromisoformat(case.created_at)).total_seconds(), 0) / 86400
        values[cid] = q_term + s.usage_weight * usage - s.age_weight * age / (age + s.age_half_days)
    return values


def enforce_budget(
    bank: CaseBank,
    network: QNetwork,
    replay: ReplayBuffer,
    settings: LearnerConfig,
    namespace: str,
    *,
    protect: Sequence[str] = (),
) -> list[str]:
    """Evict the lowest-value cases past the namespace's budget; returns their ids."""
    budget = settings.budget
    if budget is None or bank.count(namespace) <= budget:
        return []
    values = case_values(bank, network, replay, settings, namespace)
    excess = len(values) - budget
    keep = set(protect)
    ranked = sorted((v, cid) for cid, v in values.items() if cid not in keep)
    victims = [cid for _, cid in ranked[: max(excess, 0)]]
    bank.delete(victims)
    for cid in victims:
        logger.info(
            "evicted case %s from namespace %r (value %.4f, budget %d)",
            cid,
            namespace,
            values[cid],
            budget,
        )
    return victims
