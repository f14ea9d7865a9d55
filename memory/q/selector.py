"""The parametric read policy: cases ranked by Q(s, c), greedily or sampled from softmax(Q / T).

Scoring reads only cached vectors: the task is embedded once, the candidates' vectors come from
Chroma (their task vectors, or their readings with their labels for a network whose
`QConfig.case_side` is "label": `memento.memory.labelled`, one more read by id, after a search
that returns ids only), and Q is one batched pass of a small network over them. Small banks (at
most `exact_below` cases) are scored exactly over all of them (`memory.q.config.all_cases`);
larger ones go through an ANN shortlist of `shortlist` (M) candidates
(`memory.q.config.nearest_cases`) re-ranked by Q.

The shortlist is searched over the whole bank, and a case outside the task's namespace is dropped
when its record is read (the k picked are read anyway): asking Chroma for the namespace of M
candidates up front reads M records (~9 ms at M=128), a third of a selection at 100k cases. In a
bank of one namespace nothing changes; in a mixed one the namespace's share of the M nearest is
re-ranked. When the records read show other namespaces holding about half of it or more (as many
of their cases read as picks), or leave fewer than k of the namespace's cases, the namespace's
own M nearest are searched (with `namespace=...`) and re-ranked instead.

In exact mode the matrix of all cases is kept between queries and re-read when the bank's
case count changes or after `cache_seconds` (a case's vector never changes once stored, so only
additions and deletions matter; a delete followed by an add, or a case's new label, within
`cache_seconds` is seen late).
The case count itself is re-read at most every `count_seconds` (Chroma's count is not free at
100k cases), so a case added less than that ago may be missed by one query.

Without a usable checkpoint the selector falls back to similarity (with a warning) when
`allow_fallback` is true, and raises `CheckpointError` otherwise.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from memento.memory.q.checkpoint import WEIGHTS_FILE, bank_model_hash, load_or_none
from memento.memory.q.config import LearnerConfig, all_cases, nearest_cases
from memento.memory.q.network import QNetwork
from memento.memory.records import Case, ScoredCase
from memento.memory.similarity import SimilaritySelector

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

Mode = Literal["greedy", "softmax"]
logger = logging.getLogger(__name__)


@torch.no_grad()
def q_scores(network: QNetwork, query: np.ndarray, cases: np.ndarray) -> np.ndarray:
    """Q in [0, 1] of one task vector (d,) against N cached case vectors (N, d)."""
    if cases.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    with network.lock:  # never mid-training (dropout on, weights changing)
        network.eval()  # no torch_threads() here: resizing torch's pool per query costs more
        q = network.project_queries(torch.from_numpy(np.asarray(query, dtype=np.float32))[None])
        c = network.project_cases(torch.from_numpy(np.asarray(cases, dtype=np.float32)))
        out: np.ndarray = torch.sigmoid(network.interact(q, c)).numpy()
    return out


def pick_order(
    scores: np.ndarray, mode: Mode, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """Candidate indices, best first: by score, or a softmax(score / T) draw without replacement.

    The softmax draw uses the Gumbel-top-k trick: sorting score / T + Gumbel noise gives the same
    distribution as drawing one case at a time from softmax(score / T) among those left.
    """
    if mode == "greedy":
        return np.argsort(-scores, kind="stable")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    keys = scores / temperature + rng.gumbel(size=scores.shape)
    return np.argsort(-keys, kind="stable")


class QSelector:
    """Selects cases by the learned Q-function (a `CaseSelector`)."""

    def __init__(
        self,
        bank: CaseBank,
        *,
        checkpoint_dir: Path | str | None = None,
        network: QNetwork | None = None,
        mode: Mode = "greedy",
        temperature: float = 0.1,
        shortlist: int = 128,
        exact_below: int = 2000,
        allow_fallback: bool = True,
        seed: int | None = 0,
        cache_seconds: float = 60.0,
        count_seconds: float = 2.0,
    ) -> None:
        """Build a selector over `bank`.

        Args:
            bank: The case bank whose cached vectors are scored.
            checkpoint_dir: Folder of q.pt/q.json, reloaded when the file changes; ignored
                when `network` is given (e.g. a `QLearner`'s live network).
            network: A network to use directly.
            mode: "greedy" (top-K by Q) or "softmax" (sample from softmax(Q / temperature)).
            temperature: Softmax temperature over Q in [0, 1] (0.1 spreads Q's range to 10 nats).
            shortlist: M, the ANN candidates re-ranked by Q in large banks.
            exact_below: Banks with at most this many cases are scored exactly.
            allow_fallback: Use similarity with a warning when no checkpoint is usable.
            seed: Seed of the exploration RNG (numpy Generator).
            cache_seconds: How long exact mode may reuse the bank's vector matrix (0 = never).
            count_seconds: How long the bank's case count may be reused (0 = every query).
        """
        if network is None and checkpoint_dir is None:
            raise ValueError("QSelector needs a checkpoint_dir or a network")
        if shortlist <= 0 or exact_below < 0:
            raise ValueError("shortlist must be > 0 and exact_below >= 0")
        self.bank = bank
        self.mode: Mode = mode
        self.name = "q" if mode == "greedy" else "q_softmax"
        self.temperature = temperature
        self.shortlist = shortlist
        self.exact_below = exact_below
        self.allow_fallback = allow_fallback
        self.rng = np.random.default_rng(seed)
        self._fixed = network
        self._dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._loaded: QNetwork | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = False
        self._fallback = SimilaritySelector(bank)
        self.cache_seconds = cache_seconds
        self.count_seconds = count_seconds
        self._count: tuple[int, float] | None = None
        self._cache: dict[tuple[str | None, str], tuple[int, float, list[str], np.ndarray]] = {}

    @property
    def network(self) -> QNetwork | None:
        """The network in use (reloading the checkpoint when its file changed), or None."""
        if self._fixed is not None:
            return self._fixed
        assert self._dir is not None
        path = self._dir / WEIGHTS_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        retry = self._loaded is None and not self.allow_fallback  # raise again, never fall back
        if not self._checked or stamp != self._stamp or retry:  # warn once per checkpoint state
            self._checked = True
            self._stamp = stamp
            ckpt = load_or_none(
                self._dir,
                allow_fallback=self.allow_fallback,
                embedding_model=self.bank.embedding_model,
                fingerprint=bank_model_hash(self.bank),
            )
            self._loaded = None if ckpt is None else ckpt.network
        return self._loaded

    def candidates(
        self,
        task: str,
        namespace: str | None,
        vector: np.ndarray | None = None,
        *,
        filtered: bool = True,
        side: str = "task",
    ) -> tuple[list[str], np.ndarray, str]:
        """Ids and the vectors Q reads for them (`QConfig.case_side`), and how they were found.

        "exact" or "shortlist": the shortlist is the nearest cases to the task's embedding
        (`vector`, computed here when not given) in `namespace`, or in the whole bank when not
        `filtered` (`select` then drops other namespaces' picks); exact mode reads the
        namespace's cases and needs no embedding.
        """
        now = time.monotonic()
        if self._count is None or now - self._count[1] >= self.count_seconds:
            self._count = (self.bank.count(), now)
        total = self._count[0]
        if total <= self.exact_below:
            hit = self._cache.get((namespace, side))
            if hit is not None and hit[0] == total and now - hit[1] < self.cache_seconds:
                return hit[2], hit[3], "exact"
            ids, vectors = all_cases(self.bank, side, namespace)
            self._cache[(namespace, side)] = (total, now, ids, vectors)
            return ids, vectors, "exact"
        if vector is None:
            vector = self.bank.embed_query(task)
        within = namespace if filtered else None
        ids, vectors = nearest_cases(self.bank, side, vector, self.shortlist, within)
        return ids, vectors, "shortlist"

    def select(
        self,
        task: str,
        *,
        k: int = 4,
        namespace: str | None = None,
        positive: int | None = None,
        negative: int | None = None,
    ) -> list[ScoredCase]:
        """Return up to k cases, best first by Q (or in sampled order); quotas as in similarity.

        Raises:
            CheckpointError: no usable checkpoint and `allow_fallback` is false.
            ValueError: a negative quota.
        """
        for label, value in (("positive", positive), ("negative", negative)):
            if value is not None and value < 0:
                raise ValueError(f"{label} quota must be >= 0, got {value}")
        network = self.network
        if network is None:
            return self._fallback.select(
                task, k=k, namespace=namespace, positive=positive, negative=negative
            )
        if k <= 0:
            return []
        # Q reads its tuned encoder's vector (the bank's is then needed for a shortlist only),
        # or the bank's embedding, which the shortlist reuses
        tuned = network.encoder
        reading = self.bank.embed_query(task) if tuned is None else tuned.embed([task])[0]
        plain = reading if tuned is None else None
        side = network.config.case_side
        ids, vectors, _ = self.candidates(task, namespace, plain, filtered=False, side=side)
        picked, complete, strays = self._take(
            network, reading, ids, vectors, k, positive, negative, namespace
        )
        # strays come from a bank-wide shortlist only (exact mode reads the namespace's cases)
        if strays and (not complete or strays >= len(picked)):
            # other namespaces hold most of the bank-wide shortlist (by the records read), or
            # crowd this one out of it: search the namespace alone, so Q ranks enough of its own
            ids, vectors, _ = self.candidates(task, namespace, plain, side=side)
            picked, _, _ = self._take(
                network, reading, ids, vectors, k, positive, negative, namespace
            )
        return picked

    def _take(
        self,
        network: QNetwork,
        reading: np.ndarray,
        ids: list[str],
        vectors: np.ndarray,
        k: int,
        positive: int | None,
        negative: int | None,
        namespace: str | None,
    ) -> tuple[list[ScoredCase], bool, int]:
        """The first k candidates by Q (or a softmax draw) in `namespace` that fit the quotas.

        Records are read a chunk at a time. Returns the picks, whether they are complete (k
        picked, or every quota filled) and how many candidates were outside `namespace`.
        """
        scores = q_scores(network, reading, vectors)
        order = pick_order(scores, self.mode, self.temperature, self.rng)
        strays = 0
        quotas = None
        if positive is not None or negative is not None:
            n_pos = positive if positive is not None else max(k - (negative or 0), 0)
            n_neg = negative if negative is not None else max(k - (positive or 0), 0)
            quotas = {"positive": n_pos, "negative": n_neg}
        picked: list[ScoredCase] = []
        chunk = k if quotas is None else max(4 * k, 16)
        for start in range(0, len(order), chunk):
            part = [int(i) for i in order[start : start + chunk]]
            cases: dict[str, Case] = {c.id: c for c in self.bank.get_many([ids[i] for i in part])}
            for i in part:
                case = cases.get(ids[i])
                if case is None:
                    continue
                if namespace is not None and case.namespace != namespace:
                    strays += 1
                    continue
                if quotas is not None:
                    if quotas[case.label] <= 0:
                        continue
                    quotas[case.label] -= 1
                picked.append(ScoredCase(case=case, score=float(scores[i])))
                if len(picked) >= k or (quotas is not None and not any(quotas.values())):
                    return picked, True, strays
        return picked, False, strays


class KeptSelectors:
    """One `QSelector` per policy over a live network, kept from task to task.

    A selector built per task restarts its exploration RNG at the network's seed, so a softmax
    policy would draw the same noise for every task. Kept selectors read the bank's count and
    vectors on every query (no timed caches), so each task sees every case written before it.
    """

    def __init__(self) -> None:
        """Start with none kept (the owning learner serialises calls: no lock of its own)."""
        self._kept: dict[tuple[bool, float], QSelector] = {}

    def get(
        self,
        bank: CaseBank,
        network: QNetwork,
        greedy: bool,
        temperature: float,
        settings: LearnerConfig | None = None,
    ) -> QSelector:
        """The kept selector of this policy; a new one when the network was swapped (reload).

        `settings` gives the candidate search (shortlist, exact_below); None: the defaults.
        """
        if settings is None:
            settings = LearnerConfig()
        key = (greedy, temperature)
        kept = self._kept.get(key)
        if kept is None or kept.network is not network:
            kept = self._kept[key] = QSelector(
                bank,
                network=network,
                mode="greedy" if greedy else "softmax",
                temperature=temperature,
                seed=network.config.seed,
                shortlist=settings.shortlist,
                exact_below=settings.exact_below,
                count_seconds=0.0,
                cache_seconds=0.0,
            )
        return kept
