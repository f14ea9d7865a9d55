"""Kernel episodic control as a `Learner`: an opt-in Q form (`Context(q_form="kernel")`).

The learner logs one row per shown case of each finished run (task feature, case feature and
label, used or not, reward) in a `KernelQ`, and its selector re-ranks the similarity shortlist
by the kernel estimate (`memento.memory.q.kernel_estimate`). It reads only the task text, the
shown cases' task text and label, the used ids and the reward. No network and no training: an
update is an append. The log lives in memory only (no checkpoint or persistence yet), so a new
process starts with no tries; one learner serves one namespace's log (namespaces are not kept
apart inside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from memento.memory.learning import UpdateReport
from memento.memory.q.kernel_estimate import KernelConfig, KernelQ, mask_entities
from memento.memory.records import Case, ScoredCase

__all__ = ["KernelConfig", "KernelLearner", "KernelQ", "KernelSelector", "mask_entities"]


class Bank(Protocol):
    """What the kernel learner reads from the case bank."""

    def embed_query(self, text: str) -> np.ndarray:
        """A text's unit vector."""
        ...

    def nearest_vectors(
        self, vector: np.ndarray, k: int, *, namespace: str | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The k most similar cases: ids, cosine scores, cached vectors."""
        ...

    def get_many(self, ids: Sequence[str]) -> list[Case]:
        """The cases with these ids (missing ones left out)."""
        ...


class KernelLearner:
    """The `Learner` protocol over a bank and a `KernelQ` (record appends, selector re-ranks)."""

    def __init__(self, bank: Bank, config: KernelConfig | None = None, seed: int = 0) -> None:
        """Learn over `bank` with `config`; `seed` drives the softmax selector's draws."""
        self.bank = bank
        self.q = KernelQ(config)
        self.rng = np.random.default_rng(seed)
        self._features: dict[str, np.ndarray] = {}
        self._cases: dict[str, tuple[np.ndarray, int]] = {}
        self._last: tuple[str, np.ndarray] | None = None
        self._keys: dict[str, tuple[int, range]] = {}
        self._tasks = 0

    @property
    def config(self) -> KernelConfig:
        """The estimator's settings."""
        return self.q.config

    def feature(self, text: str, vector: np.ndarray) -> np.ndarray:
        """The kernel feature of a task text whose raw vector is `vector` (cached by text)."""
        if self.config.features == "raw":
            return vector
        key = mask_entities(text)
        hit = self._features.get(key)
        if hit is None:
            hit = self._features[key] = self.bank.embed_query(key)
        return hit

    def query(self, task: str) -> np.ndarray:
        """The raw vector of a task (the last one is kept: select and record ask for the same)."""
        if self._last is None or self._last[0] != task:
            self._last = (task, self.bank.embed_query(task))
        return self._last[1]

    def describe(self, cases: list[Case], vectors: dict[str, np.ndarray]) -> None:
        """Cache each case's feature and label (once per case: neither changes)."""
        for case in cases:
            if case.id not in self._cases:
                raw = vectors.get(case.id)
                if raw is None:
                    raw = self.bank.embed_query(case.task)
                self._cases[case.id] = (self.feature(case.task, raw), int(case.label == "positive"))

    def pairs(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Case features and labels (1 positive, 0 negative)."""
        feats = np.stack([self._cases[i][0] for i in ids])
        labels = np.asarray([self._cases[i][1] for i in ids])
        return feats, labels

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        key: str | None = None,
        relabel: bool = False,
    ) -> UpdateReport:
        """Log the run's tries (cases not yet described are read from the bank).

        `used_ids=None` (the planner did not say) counts every shown case as used. A `key`
        seen before is relabelled with `reward` when `relabel`, else left alone (`duplicate`).
        """
        if key is not None and key in self._keys:
            task_index, rows = self._keys[key]
            if relabel:
                self.q.set_reward(task_index, rows, reward)
            return UpdateReport(transition_id=rows.start, duplicate=not relabel)
        shown = list(dict.fromkeys(shown_ids))
        todo = [i for i in shown if i not in self._cases]
        if todo:
            self.describe(self.bank.get_many(todo), {})
        ids = [i for i in shown if i in self._cases]
        missing = [i for i in shown if i not in self._cases]
        if not ids:
            return UpdateReport(missing=missing, skipped="no shown case in the bank")
        used = set(shown if used_ids is None else used_ids)
        feats, labels = self.pairs(ids)
        start = len(self.q)
        added = self.q.record(
            self.feature(task, self.query(task)),
            list(zip(feats, labels.tolist(), strict=True)),
            [i in used for i in ids],
            reward,
        )
        rows = range(start, start + added)
        if key is not None:
            self._keys[key] = (self._tasks, rows)
        self._tasks += 1
        weight = self.config.unused_weight
        credit = {i: 1.0 if i in used else weight for i in ids}
        return UpdateReport(transition_id=start, credit=credit, missing=missing)

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> KernelSelector:
        """The read policy: greedy by score, or a softmax(score / temperature) draw."""
        return KernelSelector(self, greedy=greedy, temperature=temperature)

    def close(self) -> None:
        """Nothing to release (the log is in memory)."""


class KernelSelector:
    """Re-ranks the similarity shortlist by the kernel estimate (a `CaseSelector`)."""

    def __init__(
        self, learner: KernelLearner, *, greedy: bool = True, temperature: float = 0.1
    ) -> None:
        """Select through `learner`'s bank and estimate."""
        if not greedy and temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.learner = learner
        self.greedy = greedy
        self.temperature = temperature
        self.name = "q" if greedy else "q_softmax"

    def select(
        self,
        task: str,
        *,
        k: int = 4,
        namespace: str | None = None,
        positive: int | None = None,
        negative: int | None = None,
    ) -> list[ScoredCase]:
        """Up to k shortlist cases, best first by value + bonus + similarity.

        Optional label quotas work as in similarity selection (one left out fills the rest of k).
        """
        lr = self.learner
        if k <= 0:
            return []
        vector = lr.query(task)
        ids, sims, vectors = lr.bank.nearest_vectors(
            vector, lr.config.shortlist, namespace=namespace
        )
        cases = {c.id: c for c in lr.bank.get_many(ids)}
        lr.describe(list(cases.values()), dict(zip(ids, vectors, strict=True)))
        keep = [j for j, i in enumerate(ids) if i in cases]
        if not keep:
            return []
        feats, labels = lr.pairs([ids[j] for j in keep])
        order, scores = lr.q.rank(lr.feature(task, vector), feats, labels, sims[keep])
        if not self.greedy:  # Gumbel-top-k: a softmax draw without replacement
            keys = scores / self.temperature + lr.rng.gumbel(size=scores.shape)
            order = np.argsort(-keys, kind="stable")
        ranked = [ScoredCase(case=cases[ids[keep[o]]], score=float(scores[o])) for o in order]
        if positive is None and negative is None:
            return ranked[:k]
        left = {
            "positive": positive if positive is not None else max(k - (negative or 0), 0),
            "negative": negative if negative is not None else max(k - (positive or 0), 0),
        }
        picked: list[ScoredCase] = []
        for scored in ranked:
            if left[scored.case.label] > 0 and len(picked) < k:
                left[scored.case.label] -= 1
                picked.append(scored)
        return picked
