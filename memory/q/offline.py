"""Offline warm start and evaluation of the Q-function on logged pairs (upstream format).

Every distinct text is embedded once (the queries and the shown cases as the network reads them:
their task texts, or with their labels, exactly as the bank does), optionally through an on-disk
cache, so training on thousands of rows costs a few hundred encoder passes and a few seconds of
torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memento.infra.progress import ProgressFn
from memento.memory.q.network import QConfig, QNetwork, predict, seed_everything, train_epochs
from memento.memory.q.pairs import Pair, read_as, split_by_query, unique_texts

EmbedFn = Callable[[Sequence[str]], np.ndarray]
"""Texts -> unit vectors (n, d) float32."""


@dataclass(frozen=True)
class PairTensors:
    """Logged pairs as tensors: per-row query and case vectors and rewards."""

    queries: torch.Tensor
    cases: torch.Tensor
    rewards: torch.Tensor
    query_ids: np.ndarray
    """Index of each row's query among the unique queries (for per-query statistics)."""


def tensors_for(pairs: Sequence[Pair], vectors: dict[str, np.ndarray]) -> PairTensors:
    """Gather the vectors of each row's query and case text."""
    qs = sorted({p.query for p in pairs})
    qid = {q: i for i, q in enumerate(qs)}
    dim = len(next(iter(vectors.values()))) if vectors else 0
    if not pairs:
        empty = torch.zeros((0, dim))
        return PairTensors(empty, empty, torch.zeros(0), np.zeros(0, dtype=np.int64))
    return PairTensors(
        queries=torch.from_numpy(np.stack([vectors[p.query] for p in pairs])),
        cases=torch.from_numpy(np.stack([vectors[p.case] for p in pairs])),
        rewards=torch.tensor([p.reward for p in pairs], dtype=torch.float32),
        query_ids=np.array([qid[p.query] for p in pairs], dtype=np.int64),
    )


def embed_unique(
    pairs: Sequence[Pair], embed: EmbedFn, progress: ProgressFn | None = None, chunk: int = 256
) -> dict[str, np.ndarray]:
    """Embed every distinct query and case text once (in chunks, so `progress` can follow)."""
    texts = unique_texts(pairs)
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        out.update(zip(part, np.asarray(embed(part), dtype=np.float32), strict=True))
        if progress is not None:
            progress("embedding texts", len(out), len(texts))
    return out


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve for binary labels (ties get average ranks); NaN if one class."""
    labels = np.asarray(labels) >= 0.5
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < scores.size:
        j = i
        while j + 1 < scores.size and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def read_queries(network: QNetwork, pairs: Sequence[Pair], data: PairTensors) -> PairTensors:
    """`data` with each row's task vector as `network` reads it (through its tuned encoder)."""
    if network.encoder is None or not pairs:
        return data
    queries = torch.from_numpy(network.encoder.embed([p.query for p in pairs]))  # each text once
    return PairTensors(queries, data.cases, data.rewards, data.query_ids)


def evaluate(network: QNetwork, data: PairTensors) -> dict[str, Any]:
    """AUC and accuracy (threshold 0.5) of Q against the rewards of held-out rows."""
    scores = predict(network, data.queries, data.cases).numpy()
    labels = data.rewards.numpy()
    accuracy = float(((scores >= 0.5) == (labels >= 0.5)).mean()) if labels.size else float("nan")
    return {
        "auc": roc_auc(labels, scores),
        "accuracy": accuracy,
        "n_test_rows": int(labels.size),
        "n_test_queries": int(len(set(data.query_ids.tolist()))),
    }


def train_on_pairs(
    pairs: Sequence[Pair],
    embed: EmbedFn,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    config: QConfig | None = None,
    tune_encoder: bool = False,
    progress: ProgressFn | None = None,
) -> tuple[QNetwork, dict[str, Any]]:
    """Train a fresh network on the training side of a by-query split and score the held-out side.

    With `tune_encoder` the network reads tasks through a copy of MiniLM (layers and embeddings)
    trained with it (`memento.memory.q.tune`; `network.encoder` holds it), else through the
    frozen vectors of `embed`. `progress` hears of each step.

    Returns:
        The trained network (eval mode) and a report with auc, accuracy, n_train_rows,
        n_test_rows, n_test_queries, n_train_queries, steps, final_loss and seconds (training
        and evaluation, embeddings included).
    """
    started = time.perf_counter()
    cfg = config or QConfig(seed=seed)
    if cfg.seed != seed:
        cfg = QConfig.from_dict({**cfg.to_dict(), "seed": seed})
    pairs = read_as(pairs, cfg.case_side)
    train, test = split_by_query(pairs, holdout=holdout, seed=seed)
    if not train:
        raise ValueError("no training rows left after the split; lower --holdout")
    vectors = embed_unique(pairs, embed, progress)
    dim = len(next(iter(vectors.values())))
    if dim != cfg.dim:
        cfg = QConfig.from_dict({**cfg.to_dict(), "dim": dim})
    seed_everything(seed)
    if tune_encoder:
        network, losses, steps = _tuned(cfg, train, vectors, progress)
    else:
        network = QNetwork(cfg)
        tr = tensors_for(train, vectors)
        losses = train_epochs(network, tr.queries, tr.cases, tr.rewards)
        steps = cfg.epochs * -(-len(train) // cfg.batch_size)
    report: dict[str, Any] = {"auc": float("nan"), "accuracy": float("nan")}
    report.update({"n_test_rows": 0, "n_test_queries": 0})
    if test:
        report.update(evaluate(network, read_queries(network, test, tensors_for(test, vectors))))
    report.update(
        {
            "n_train_rows": len(train),
            "n_train_queries": len({p.query for p in train}),
            "holdout": holdout,
            "seed": seed,
            "steps": steps,
            "query_encoder": network.config.query_encoder or None,
            "final_loss": losses[-1] if losses else float("nan"),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    return network, report


def _tuned(
    cfg: QConfig, train: Sequence[Pair], vectors: dict[str, np.ndarray], progress: ProgressFn | None
) -> tuple[QNetwork, list[float], int]:
    """A network trained with a fresh query encoder (a soup of members); the config names it."""
    from memento.memory.q.tune import run_steps, soup

    network, encoder, losses = soup(cfg, train, vectors, progress=progress)
    network.config = QConfig.from_dict({**cfg.to_dict(), "query_encoder": encoder.digest()})
    network.encoder = encoder
    network.eval()
    return network, losses, cfg.encoder_members * run_steps(cfg, train)


def evaluate_on_pairs(
    network: QNetwork, pairs: Sequence[Pair], embed: EmbedFn, *, holdout: float, seed: int
) -> dict[str, Any]:
    """Evaluate a trained network on the held-out side of the same by-query split rule."""
    started = time.perf_counter()
    read = read_as(pairs, network.config.case_side)
    train, test = split_by_query(read, holdout=holdout, seed=seed)
    if not test:
        raise ValueError("the held-out side is empty; use --holdout > 0")
    data = read_queries(network, test, tensors_for(test, embed_unique(test, embed)))
    report = evaluate(network, data)
    report.update({"n_train_rows": len(train), "holdout": holdout, "seed": seed})
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


class CachedEmbedder:
    """Wraps an embedding function with an on-disk cache of text -> vector (one .npz file)."""

    def __init__(self, embed: EmbedFn, path: Path | None, model: str) -> None:
        self._embed = embed
        self._path = path
        self._model = model
        self._cache: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    if str(data["model"]) == model:
                        texts = [str(t) for t in data["texts"]]
                        self._cache = dict(zip(texts, data["vectors"], strict=True))
            except (OSError, ValueError, KeyError):
                self._cache = {}  # a broken cache is only a cache: rebuild it

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts`, embedding only the ones not cached yet."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            fresh = np.asarray(self._embed(missing), dtype=np.float32)
            self._cache.update(zip(missing, fresh, strict=True))
            self._save()
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0))

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp.npz")
        texts = list(self._cache)
        np.savez(
            tmp,
            model=np.array(self._model),
            texts=np.array(texts, dtype=np.str_),
            vectors=np.stack([self._cache[t] for t in texts]).astype(np.float32),
        )
        tmp.replace(self._path)
