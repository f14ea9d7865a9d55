"""Kernel episodic control as a `Learner`: the default Q form (`Context(q_form="kernel")`).

The learner keeps every finished run (task, shown ids, used ids, reward) in the same replay
buffer the network form uses (`<home>/q/replay.sqlite`), so its tries outlive the process, and
logs one row per shown case in an in-memory `KernelQ` per namespace, rebuilt from the buffer on
open and kept up to date with rows other processes append. Its selector re-ranks the similarity
shortlist by the kernel estimate (`memento.memory.q.kernel_estimate`). It reads only the task
text, the shown cases' task text and label, the used ids and the reward. No network and no
training: an update is an append (the bank's usage counters follow in a background thread,
`memento.memory.q.counts`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from memento.memory.learning import UpdateReport
from memento.memory.q.counts import UsageCounts
from memento.memory.q.kernel_estimate import KernelConfig, KernelQ, mask_entities
from memento.memory.q.replay import REPLAY_FILE, ReplayBuffer, Transition, check_run
from memento.memory.records import Case, ScoredCase

__all__ = ["KernelConfig", "KernelLearner", "KernelQ", "KernelSelector", "mask_entities"]

DEFAULT_NAMESPACE = "default"


class Bank(Protocol):
    """What the kernel learner reads from (and counts in) the case bank."""

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

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of many texts, embedded in batches, shape (n, d)."""
        ...

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The cached vectors of these cases (all in the bank), shape (n, d)."""
        ...

    def count_usage(self, shown: Sequence[str], helped: Collection[str]) -> list[str]:
        """Add a run to its shown cases' counters; the ids that are gone."""
        ...


class KernelLearner:
    """The `Learner` protocol over a bank, a replay buffer and one `KernelQ` per namespace.

    Not thread-safe: one caller at a time (the graph's `Deps` sees to it).
    """

    def __init__(
        self,
        bank: Bank,
        config: KernelConfig | None = None,
        seed: int = 0,
        *,
        replay: ReplayBuffer | None = None,
        helpful_threshold: float = 0.5,
    ) -> None:
        """Learn over `bank`, logging runs in `replay` (default: in memory only).

        The runs already in `replay` are read back first. `seed` drives the softmax selector's
        draws; a run with reward >= `helpful_threshold` counts as helped for the cases it used.
        """
        self.bank = bank
        self.config = config or KernelConfig()
        self.replay = replay if replay is not None else ReplayBuffer(None, capacity=None)
        self.helpful_threshold = helpful_threshold
        self.counts = UsageCounts(bank)
        self.rng = np.random.default_rng(seed)
        self.qs: dict[str, KernelQ] = {}
        self._features: dict[str, np.ndarray] = {}
        self._cases: dict[str, tuple[np.ndarray, int]] = {}
        self._last: tuple[str, np.ndarray] | None = None
        self._keys: dict[str, tuple[str, int, range]] = {}
        self._tasks: dict[str, int] = {}
        self._seen = 0
        self.sync()

    @classmethod
    def open(
        cls, bank: Bank, folder: Path | str, config: KernelConfig | None = None, seed: int = 0
    ) -> KernelLearner:
        """The learner whose runs are kept in `folder`/replay.sqlite (created on first use)."""
        return cls(
            bank, config, seed, replay=ReplayBuffer(Path(folder) / REPLAY_FILE, capacity=None)
        )

    @property
    def q(self) -> KernelQ:
        """The default namespace's estimate."""
        return self.log(DEFAULT_NAMESPACE)

    def log(self, namespace: str | None) -> KernelQ:
        """The estimate over one namespace's tries (created empty on first use)."""
        ns = namespace or DEFAULT_NAMESPACE
        if ns not in self.qs:
            self.qs[ns] = KernelQ(self.config)
        return self.qs[ns]

    def sync(self) -> int:
        """Log the runs stored since the last look (by this or another process); how many."""
        added = 0
        while batch := self.replay.since(self._seen):
            self._prefetch(batch)
            for t in batch:
                self._log(t)
                self._seen = max(self._seen, t.id or 0)
            added += len(batch)
        return added

    def _prefetch(self, batch: Sequence[Transition]) -> None:
        """Describe the batch's new cases and embed its new features in one call each.

        Reading a long log back on open then costs batched embedding, not one call per run.
        """
        new = list(dict.fromkeys(i for t in batch for i in t.shown_ids if i not in self._cases))
        cases = self.bank.get_many(new) if new else []
        if self.config.features != "raw":
            texts = [t.task for t in batch] + [c.task for c in cases]
            todo = sorted({mask_entities(x) for x in texts} - self._features.keys())
            if todo:
                self._features.update(zip(todo, self.bank.embed_texts(todo), strict=True))
        if cases:
            raw = self.bank.vectors([c.id for c in cases])
            self.describe(cases, dict(zip((c.id for c in cases), raw, strict=True)))

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
        """Cache each case's feature (once: its text never changes) and its label as read now.

        A fold may relabel a case later: the latest read wins.
        """
        for case in cases:
            label = int(case.label == "positive")
            held = self._cases.get(case.id)
            if held is not None:
                self._cases[case.id] = (held[0], label)
                continue
            raw = vectors.get(case.id)
            if raw is None:
                raw = self.bank.embed_query(case.task)
            self._cases[case.id] = (self.feature(case.task, raw), label)

    def pairs(
        self, ids: list[str], labels: dict[str, str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Case features and labels (1 positive, 0 negative).

        A label comes from `labels` where given (as shown), else it is the one last read.
        """
        feats = np.stack([self._cases[i][0] for i in ids])
        given = labels or {}
        out = [int(given[i] == "positive") if i in given else self._cases[i][1] for i in ids]
        return feats, np.asarray(out)

    def shown_labels(self, shown_ids: Sequence[str]) -> tuple[str, ...] | None:
        """The shown cases' labels as last read (by the selection that showed them).

        Cases not read yet are read now; None when one is no longer in the bank.
        """
        unread = [i for i in dict.fromkeys(shown_ids) if i not in self._cases]
        if unread:
            self.describe(self.bank.get_many(unread), {})
        if any(i not in self._cases for i in shown_ids):
            return None
        return tuple("positive" if self._cases[i][1] else "negative" for i in shown_ids)

    def values(self, task: str, ids: Sequence[str], namespace: str | None = None) -> np.ndarray:
        """The kernel estimate of Q(task, case) per id (no bonus; ids not in the bank: nan)."""
        self.sync()
        current = self.bank.get_many(list(dict.fromkeys(ids)))  # labels as they are now
        self.describe(current, {})
        present = {c.id for c in current}
        known = [i for i in ids if i in present]
        out = np.full(len(ids), np.nan, np.float32)
        if known:
            feats, labels = self.pairs(known)
            value, _ = self.log(namespace).score(
                self.feature(task, self.query(task)), feats, labels
            )
            where = {i: j for j, i in enumerate(known)}
            for n, i in enumerate(ids):
                if i in where:
                    out[n] = value[where[i]]
        return out

    def _log(self, t: Transition) -> None:
        """Add one stored run's rows to its namespace's estimate.

        Its cases were described by `_prefetch`; shown cases no longer in the bank are left out.
        """
        if t.key is not None and t.key in self._keys:
            return
        ids = [i for i in dict.fromkeys(t.shown_ids) if i in self._cases]
        if not ids:
            return
        used = set(t.shown_ids if t.used_ids is None else t.used_ids)
        shown = (
            None if t.shown_labels is None else dict(zip(t.shown_ids, t.shown_labels, strict=True))
        )
        feats, labels = self.pairs(ids, shown)  # as shown; a log kept before labels: as now
        q = self.log(t.namespace)
        vector = t.task_vector if t.task_vector.size else self.bank.embed_query(t.task)
        start = len(q)
        added = q.record(
            self.feature(t.task, vector),
            list(zip(feats, labels.tolist(), strict=True)),
            [i in used for i in ids],
            t.reward,
        )
        rows = range(start, start + added)
        index = self._tasks.get(t.namespace, 0)
        self._tasks[t.namespace] = index + 1
        if t.key is not None:
            self._keys[t.key] = (t.namespace, index, rows)

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
        shown_labels: Sequence[str] | None = None,
    ) -> UpdateReport:
        """Store the run, count it in the bank and log its tries.

        `used_ids=None` (the planner did not say) counts every shown case as used. A `key`
        stored before is relabelled with `reward` when `relabel`, else left alone (`duplicate`).
        `shown_labels` are the labels the cases were shown with; None: as the selection that
        showed them read them (a fold writing this run may have relabelled one since).

        Raises:
            ValueError: reward outside [0, 1] or no shown ids (nothing is stored then).
        """
        check_run(reward, shown_ids)
        self.sync()
        if key is not None and (row := self.replay.find_key(key)) is not None:
            if relabel:
                self.replay.set_reward(row, float(reward))
                if key in self._keys:
                    ns, index, rows = self._keys[key]
                    self.log(ns).set_reward(index, rows, reward)
            return UpdateReport(transition_id=row, duplicate=not relabel)
        if shown_labels is None:
            shown_labels = self.shown_labels(shown_ids)
        t = Transition.of_run(
            task, self.query(task), shown_ids, used_ids, reward,
            namespace=namespace or DEFAULT_NAMESPACE, key=key, shown_labels=shown_labels,
        )  # fmt: skip
        tid = self.replay.add(t)
        self._count_usage(t)
        self.sync()  # logs this run (and any another process stored meanwhile)
        missing = [i for i in dict.fromkeys(t.shown_ids) if i not in self._cases]
        if not any(i in self._cases for i in t.shown_ids):
            return UpdateReport(
                transition_id=tid, missing=missing, skipped="no shown case in the bank"
            )
        used = set(t.shown_ids if used_ids is None else used_ids)
        weight = self.config.unused_weight
        shown = [i for i in dict.fromkeys(shown_ids) if i not in missing]
        credit = {i: 1.0 if i in used else weight for i in shown}
        return UpdateReport(transition_id=tid, credit=credit, missing=missing)

    def _count_usage(self, t: Transition) -> None:
        """Queue the run for the bank's counters (times shown, times helped): off the path."""
        used = set(t.shown_ids if t.used_ids is None else t.used_ids)
        self.counts.add(t.shown_ids, used if t.reward >= self.helpful_threshold else set())

    def flush(self) -> None:
        """Wait until the bank's counters include every recorded run."""
        self.counts.flush()

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> KernelSelector:
        """The read policy: greedy by score, or a softmax(score / temperature) draw."""
        return KernelSelector(self, greedy=greedy, temperature=temperature)

    def close(self) -> None:
        """Apply the queued counts, then close the replay buffer's file."""
        self.counts.close()
        self.replay.close()


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
        lr.sync()
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
        estimate = lr.log(namespace)
        order, scores = estimate.rank(lr.feature(task, vector), feats, labels, sims[keep])
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
