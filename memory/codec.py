"""How a case is laid out in Chroma: ids, metadata, filters, vectors and the merge rule.

A case is one Chroma record: the task text is the document, the cached embedding is the
vector, and every other field is flat metadata (the plan as compact JSON text). Ids are either
given by the caller (the graph uses the thread id) or a content hash of (namespace, task, plan).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from memento.memory.products import matmul
from memento.memory.records import Case, Label, Plan, label_for

MERGED_IDS_KEY = "merged_ids"
"""Metadata key listing ids merged into a case as near-duplicates (makes retries idempotent)."""
REWARD_TEXT_KEY = "reward_text"
BEST_REWARD_KEY = "best_reward"
"""Metadata key: the reward of the observation whose plan a case shows (see `merge_stats`)."""
"""Metadata key with the stored reward's exact decimal text: Chroma hands float metadata back up
to a unit in the last place off (about 1 in 10 random floats), the text comes back as written."""


def reward_metadata(reward: float) -> dict[str, float | str]:
    """The metadata keys that store a (base) reward: the float for filters, the exact text."""
    return {"reward": float(reward), REWARD_TEXT_KEY: repr(float(reward))}


def stored_reward(meta: Mapping[str, Any]) -> float:
    """The stored reward, exact when its text is present and agrees with the float.

    A text that disagrees beyond rounding (a writer that set only the float) is ignored.
    """
    value = float(meta["reward"])
    text = meta.get(REWARD_TEXT_KEY)
    if isinstance(text, str):
        try:
            exact = float(text)
        except ValueError:
            return value
        if math.isclose(exact, value, rel_tol=1e-12, abs_tol=1e-12):
            return exact
    return value


def case_id_for(namespace: str, task: str, plan: Plan) -> str:
    """Content hash of (namespace, task, plan): the id of a case the caller did not name."""
    digest = hashlib.sha256("\x1f".join((namespace, task, plan.to_json())).encode("utf-8"))
    return digest.hexdigest()[:32]


def to_metadata(case: Case, best: float | None = None) -> dict[str, str | int | float]:
    """Flatten a case into Chroma metadata (everything but id, task and vector).

    `best` is the reward of the observation whose plan it shows (default: its reward).
    """
    return {
        BEST_REWARD_KEY: case.reward if best is None else best,
        "plan": case.plan.to_json(),
        "label": case.label,
        **reward_metadata(case.reward),
        "source": case.source,
        "namespace": case.namespace,
        "created_at": case.created_at,
        "times_retrieved": case.times_retrieved,
        "times_helpful": case.times_helpful,
        "observations": case.observations,
    }


def from_record(case_id: str, document: str | None, metadata: Mapping[str, Any] | None) -> Case:
    """Rebuild a case from one Chroma record.

    Raises:
        ValueError: when the record is not a case written by this module.
    """
    meta = dict(metadata or {})
    if document is None or "plan" not in meta:
        raise ValueError(f"record {case_id!r} is not a Memento case (no task or plan)")
    return Case(
        id=case_id,
        task=document,
        plan=Plan.parse(str(meta["plan"])),
        label=meta["label"],
        reward=stored_reward(meta),
        source=str(meta.get("source", "memento")),
        namespace=str(meta.get("namespace", "default")),
        created_at=str(meta["created_at"]),
        times_retrieved=int(meta.get("times_retrieved", 0)),
        times_helpful=int(meta.get("times_helpful", 0)),
        observations=int(meta.get("observations", 1)),
    )


def where_filter(namespace: str | None = None, label: Label | None = None) -> dict[str, Any] | None:
    """A Chroma `where` clause for an optional namespace and label."""
    clauses: list[dict[str, Any]] = []
    if namespace is not None:
        clauses.append({"namespace": namespace})
    if label is not None:
        clauses.append({"label": label})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def unit_rows(vectors: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Vectors as a float32 matrix with L2-normalised rows (zero rows stay zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def best_reward(meta: Mapping[str, Any]) -> float:
    """The reward of the observation whose plan a stored case shows (its base reward if unset)."""
    value = meta.get(BEST_REWARD_KEY)
    return float(value) if isinstance(value, int | float) else stored_reward(meta)


def shown_plan_update(
    meta: Mapping[str, Any], top: Case | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metadata changes that make a stored case show its best plan, and the values they replace.

    `top` is the best-rewarded near-duplicate folded in now: its plan replaces the stored one
    only when it did better; the label follows the best observation (`merge_stats`).
    """
    best = best_reward(meta)
    before = {"label": meta.get("label"), "plan": meta.get("plan"), BEST_REWARD_KEY: best}
    changes: dict[str, Any] = {}
    if top is not None and top.reward > best:
        best = top.reward
        changes["plan"] = top.plan.to_json()
    changes.update({"label": label_for(best), BEST_REWARD_KEY: best})
    return changes, before


def merge_stats(target: Case, incoming: Case, best: float | None = None) -> tuple[Case, float]:
    """Fold a near-duplicate into `target`: the merge rule of the Case Bank.

    The reward becomes the mean over all observations (weighted by each side's `observations`)
    and usage counters add up; the plan and label come from the best-rewarded observation
    (`best` is the reward of target's shown plan, default its reward), so a failed plan is never
    shown as one to follow; the task, source and created_at of the older case are kept.
    Returns the merged case and the reward of the plan it now shows.
    """
    total = target.observations + incoming.observations
    reward = (target.reward * target.observations + incoming.reward * incoming.observations) / total
    reward = min(max(reward, 0.0), 1.0)
    best = target.reward if best is None else best
    plan = target.plan
    if incoming.reward > best:
        plan, best = incoming.plan, incoming.reward
    merged = target.model_copy(
        update={
            "plan": plan,
            "reward": reward,
            "label": label_for(best),
            "observations": total,
            "times_retrieved": target.times_retrieved + incoming.times_retrieved,
            "times_helpful": target.times_helpful + incoming.times_helpful,
        }
    )
    return merged, best


def first_near_duplicate(vectors: np.ndarray, threshold: float, block: int = 512) -> np.ndarray:
    """For each row i, the first earlier row j < i with cosine >= threshold, else -1.

    Rows must be unit vectors. Computed blockwise so memory stays at block x n floats.
    """
    n = vectors.shape[0]
    result = np.full(n, -1, dtype=np.int64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = matmul(vectors[start:stop], vectors[:stop].T)
        rows = np.arange(start, stop)
        mask = (sims >= threshold) & (np.arange(stop)[None, :] < rows[:, None])
        hit = mask.any(axis=1)
        result[start:stop][hit] = mask[hit].argmax(axis=1)
    return result
