"""The learner's settings and the pieces it shares with the multi-process worker and trainer.

`LearnerConfig` holds online learning (steps per record, credit of unused cases), capacity
(budget, eviction weights) and the selectors' candidate search; `credit_weights` turns one run
into per-case loss weights and `training_rows` into tensors; `fresh_network` is the seeded
initial network every process builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from memento.memory.labelled import labelled_vectors, readings_as_shown
from memento.memory.q.network import QConfig, QNetwork, seed_everything

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.replay import Transition


@dataclass(frozen=True)
class LearnerConfig:
    """Online-learning, credit and capacity settings."""

    unused_weight: float = 0.3
    """Loss weight of shown-but-unused cases when the planner reported what it used."""
    batch_transitions: int = 32
    """Transitions per mini-batch (each contributes one row per shown case)."""
    steps_per_record: int = 1
    """Update steps after each recorded transition (0 = record only)."""
    save_every: int = 1
    """Save the checkpoint every this many updates."""
    replay_capacity: int | None = 100_000
    """Transitions kept in the buffer (oldest dropped); None keeps all."""
    helpful_threshold: float = 0.5
    """Reward at or above which a used case counts as helpful."""
    budget: int | None = None
    """Maximum cases per namespace; None = unbounded."""
    recent_tasks: int = 32
    """Recent tasks over which Q is averaged for a case's eviction value."""
    usage_weight: float = 0.1
    """Weight of the smoothed help rate in the eviction value."""
    age_weight: float = 0.05
    """Weight of the age penalty in the eviction value."""
    age_half_days: float = 30.0
    """Age (days) at which the age penalty reaches half its weight."""
    shortlist: int = 128
    """Selectors: most similar cases re-ranked by Q in banks above `exact_below` cases."""
    exact_below: int = 2000
    """Selectors: banks of at most this many cases are scored exactly (every case)."""


def credit_weights(
    shown_ids: Sequence[str], used_ids: Sequence[str] | None, unused_weight: float
) -> dict[str, float]:
    """Loss weight per shown case: 1 if used, else `unused_weight` (all 1 without a report)."""
    if not used_ids:
        return {cid: 1.0 for cid in shown_ids}
    used = set(used_ids)
    return {cid: 1.0 if cid in used else unused_weight for cid in shown_ids}


def bank_config(bank: CaseBank) -> QConfig:
    """The default network configuration for `bank`: its embedding size (MiniLM: 384)."""
    return QConfig(dim=bank.dimension or len(bank.embed_query("dimension probe")))


def fresh_network(bank: CaseBank, config: QConfig | None = None) -> QNetwork:
    """The seeded initial network (every process builds the same one from the same config)."""
    config = config or bank_config(bank)
    seed_everything(config.seed)
    return QNetwork(config)


def read_cases(bank: CaseBank, side: str, ids: Sequence[str]) -> np.ndarray:
    """What a network with `QConfig.case_side == side` reads for these cases, shape (n, d).

    "task": their cached task vectors; "label": their readings with their labels
    (`memento.memory.labelled`, embedded on first use).

    Raises:
        KeyError: naming the ids that are not in the bank.
    """
    return labelled_vectors(bank, ids) if side == "label" else bank.vectors(ids)


def case_vectors(bank: CaseBank, ids: Sequence[str], side: str = "task") -> dict[str, np.ndarray]:
    """What a network reading `side` reads for the cases among `ids` still in the bank."""
    unique = list(dict.fromkeys(ids))
    try:
        return dict(zip(unique, read_cases(bank, side, unique), strict=True))
    except KeyError:  # some cases were deleted: keep the others
        found: dict[str, np.ndarray] = {}
        for cid in unique:
            try:
                found[cid] = read_cases(bank, side, [cid])[0]
            except KeyError:
                continue
        return found


def case_matrix(bank: CaseBank, side: str, ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The cases among `ids` still in the bank and what a network reading `side` reads for them."""
    found = case_vectors(bank, ids, side)
    kept = [cid for cid in ids if cid in found]
    if not kept:
        return [], np.zeros((0, bank.dimension or 0), dtype=np.float32)
    return kept, np.stack([found[cid] for cid in kept]).astype(np.float32)


def all_cases(
    bank: CaseBank, side: str, namespace: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Every case (of a namespace) and what a network reading `side` reads for it."""
    if side == "task":
        return bank.all_vectors(namespace)
    return case_matrix(bank, side, bank.all_ids(namespace))


def nearest_cases(
    bank: CaseBank, side: str, vector: np.ndarray, k: int, namespace: str | None = None
) -> tuple[list[str], np.ndarray]:
    """The `k` cases nearest to a task vector and what a network reading `side` reads for them.

    The task vectors come with the search on the task side; the label side searches ids only.
    """
    if side == "task":
        ids, _, vectors = bank.nearest_vectors(vector, k, namespace=namespace)
        return ids, vectors
    ids, _ = bank.nearest_ids(vector, k, namespace=namespace)
    return case_matrix(bank, side, ids)


def read_tasks(network: QNetwork, transitions: Sequence[Transition]) -> list[Transition]:
    """`transitions` with each task vector as `network` reads it (its tuned encoder, if any)."""
    if network.encoder is None or not transitions:
        return list(transitions)
    tuned = network.encoder.embed([t.task for t in transitions])  # each text read once
    return [replace(t, task_vector=v) for t, v in zip(transitions, tuned, strict=True)]


def training_rows(
    bank: CaseBank,
    transitions: Sequence[Transition],
    unused_weight: float,
    config: QConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training rows (task vectors, case vectors, rewards, credit weights) of transitions.

    Each shown case still in the bank is one row, weighted by `credit_weights`; its vector is
    the one a network of `config` reads (`read_cases`), on the label side read with the label
    the case was shown with where the transition kept it (`readings_as_shown`).
    """
    as_shown = config.case_side == "label"
    shown_with = [
        dict(zip(t.shown_ids, t.shown_labels, strict=True)) if as_shown and t.shown_labels else None
        for t in transitions
    ]
    plain = [t for t, s in zip(transitions, shown_with, strict=True) if s is None]
    shown = [cid for t in plain for cid in t.shown_ids]
    vectors = case_vectors(bank, shown, config.case_side) if shown else {}
    pairs = [pair for s in shown_with if s is not None for pair in s.items()]
    readings = readings_as_shown(bank, pairs) if pairs else {}
    dim = config.dim
    qs: list[np.ndarray] = []
    cs: list[np.ndarray] = []
    rs: list[float] = []
    ws: list[float] = []
    for t, labels in zip(transitions, shown_with, strict=True):
        for cid, weight in credit_weights(t.shown_ids, t.used_ids, unused_weight).items():
            vector = vectors.get(cid) if labels is None else readings.get((cid, labels[cid]))
            if vector is not None:
                qs.append(t.task_vector)
                cs.append(vector)
                rs.append(t.reward)
                ws.append(weight)
    if not qs:
        empty = torch.zeros((0, dim))
        return empty, empty, torch.zeros(0), torch.zeros(0)
    return (
        torch.from_numpy(np.stack(qs).astype(np.float32)),
        torch.from_numpy(np.stack(cs).astype(np.float32)),
        torch.tensor(rs, dtype=torch.float32),
        torch.tensor(ws, dtype=torch.float32),
    )
