"""The case-selection value Q(s, c): a config, a small torch network, pure loss functions.

With single-step episodes soft Q-learning reduces to predicting the run's reward r in [0, 1] from
(task s, case c) with binary cross-entropy, so Q(s, c) = sigmoid(logit) estimates the chance that
showing case c for task s leads to success.

The network has two forms (`QConfig.form`), both two-tower:

    a = W_q q          (query tower; q = the task's unit embedding, one encoder pass per query)
    b = W_c c          (case tower; c = the case's vector cached in Chroma, never re-encoded)
    "mlp":      logit = MLP([a, b, a * b, |a - b|])
    "residual": logit = prior_scale * cos(q, c) + bias + a . b      (W_c starts at zero)

The residual form is a learned correction of similarity retrieval: untrained, it ranks cases
exactly as similarity does, and it has no term of the case alone, so it cannot rank a case high
for every task ("case popularity"); it can only learn which cases help which tasks.

`project_cases` is a pure function of the cached vectors, so the case side can be precomputed
once per checkpoint version; scoring N cases then costs one (N, h) gather and one small batched
MLP, not N encoder passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from memento.memory.q.encoder import QueryEncoder

FORMS: tuple[str, ...] = ("mlp", "residual")
"""The network forms `QConfig.form` accepts."""
CASE_SIDES: tuple[str, ...] = ("task", "label")
"""What the network reads for a case (`QConfig.case_side`)."""


@dataclass(frozen=True)
class QConfig:
    """Shape and training hyper-parameters of the Q-function (stored in every checkpoint)."""

    dim: int = 384
    """Embedding size of tasks and cases (all-MiniLM-L6-v2: 384)."""
    hidden: int = 32
    """Width of each tower and of the interaction head."""
    dropout: float = 0.1
    """Dropout on the tower inputs while training (small data: 1k cases, <1k queries)."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 1e-2
    """AdamW weight decay."""
    batch_size: int = 64
    """Rows (task, case) per optimisation step."""
    epochs: int = 10
    """Passes over the data for offline training and full retrains."""
    seed: int = 0
    """Seed for weight init, shuffling and exploration (torch.manual_seed, numpy Generator)."""
    form: str = "mlp"
    """Network form: "mlp" (towers and an MLP head) or "residual" (similarity plus a learned
    bilinear correction; see the module docstring)."""
    prior_scale: float = 20.0
    """Residual form: logit weight of cos(q, c), fixed (how much evidence overrides similarity)."""
    query_encoder: str = ""
    """Digest of the tuned query encoder the network reads tasks through ("" = none: the
    bank's own task embedding); see `memento.memory.q.encoder`."""
    encoder_epochs: int = 2
    """Passes over the logged queries when the query encoder is tuned offline."""
    encoder_lr: float = 3e-5
    """AdamW learning rate of the query encoder's layers (the head keeps `lr`)."""
    encoder_members: int = 1
    """Tuned runs averaged weight by weight into the one stored (a "model soup": the same
    start, other shuffles; selection still costs one run's pass). On upstream's log 3 members
    gave no clear gain in mean AUC (-0.004 to +0.005 per five splits) at 3x the training time,
    so 1 is the default (docs/numbers.md)."""
    case_side: str = "label"
    """What a case is read as: "label", the bank model's vector of "[CASE] task [LABEL] label"
    (`memento.memory.labelled`, cached beside the task's; what upstream's classifier reads,
    less the plan), or "task", the case's own task vector. On upstream's log the label side
    gave higher AUC on all three sets of five splits (docs/numbers.md). A checkpoint saved
    without the field was trained on tasks (`memento.memory.q.checkpoint` reads it so)."""

    def __post_init__(self) -> None:
        """Reject an unknown form or case side, a negative prior scale or no encoder members."""
        if self.form not in FORMS:
            raise ValueError(f"QConfig.form must be one of {FORMS}, got {self.form!r}")
        if self.prior_scale < 0:
            raise ValueError(f"QConfig.prior_scale must be >= 0, got {self.prior_scale}")
        if self.encoder_members < 1:
            raise ValueError(f"QConfig.encoder_members must be >= 1, got {self.encoder_members}")
        if self.case_side not in CASE_SIDES:
            sides = CASE_SIDES
            raise ValueError(f"QConfig.case_side must be one of {sides}, got {self.case_side!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QConfig:
        """Build from a dict, ignoring unknown keys (newer writers) and keeping defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


class QNetwork(nn.Module):
    """Q(s, c) over cached embeddings, in the form `config.form` names (module docstring)."""

    def __init__(self, config: QConfig) -> None:
        super().__init__()
        self.config = config
        self.lock = threading.RLock()
        """Training steps and scoring of this network never interleave (dropout, in-place
        weight updates); re-entrant so a training call may score."""
        self.residual = config.form == "residual"
        self.prior_scale = float(config.prior_scale)  # fixed: kept in the config, not learned
        bias = not self.residual
        self.query_tower = nn.Linear(config.dim, config.hidden, bias=bias)
        self.case_tower = nn.Linear(config.dim, config.hidden, bias=bias)
        self.head: nn.Module = nn.Identity()
        if self.residual:
            nn.init.zeros_(self.case_tower.weight)  # untrained: exactly the similarity ranking
            self.bias = nn.Parameter(torch.tensor(-0.5 * config.prior_scale))
        else:
            self.head = nn.Sequential(
                nn.Linear(4 * config.hidden, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, 1),
            )
        self.drop = nn.Dropout(config.dropout)
        self.encoder: QueryEncoder | None = None
        """The tuned query encoder named by `config.query_encoder` (not in the state dict: it
        is stored once, beside the checkpoint), or None."""

    def project_queries(self, queries: Tensor) -> Tensor:
        """Query-side features (n, h) from task vectors (n, d); residual: (n, h + d)."""
        out: Tensor = self.query_tower(self.drop(queries))
        if self.residual:
            out = torch.cat([out, nn.functional.normalize(queries, dim=-1)], dim=-1)
        return out

    def project_cases(self, cases: Tensor) -> Tensor:
        """Case-side features (n, h) from cached case vectors (n, d); cacheable per version."""
        out: Tensor = self.case_tower(self.drop(cases))
        if self.residual:
            out = torch.cat([out, nn.functional.normalize(cases, dim=-1)], dim=-1)
        return out

    def interact(self, query_feats: Tensor, case_feats: Tensor) -> Tensor:
        """Logits (n,) from paired features; a (1, h) query side broadcasts over n cases."""
        query_feats = query_feats.expand_as(case_feats)
        if self.residual:
            h = self.config.hidden
            a, q = query_feats[..., :h], query_feats[..., h:]
            b, c = case_feats[..., :h], case_feats[..., h:]
            prior = self.prior_scale * (q * c).sum(-1) + self.bias
            logits: Tensor = prior + (a * b).sum(-1)
            return logits
        joint = torch.cat(
            [query_feats, case_feats, query_feats * case_feats, (query_feats - case_feats).abs()],
            dim=-1,
        )
        out: Tensor = self.head(joint).squeeze(-1)
        return out

    def forward(self, queries: Tensor, cases: Tensor) -> Tensor:
        """Logits (n,) of Q for paired rows: queries (n, d) or (1, d), cases (n, d)."""
        return self.interact(self.project_queries(queries), self.project_cases(cases))


def query_vector(network: QNetwork, task: str, plain: np.ndarray) -> np.ndarray:
    """The task vector Q reads: its tuned encoder's when it has one, else the bank's `plain`."""
    if network.encoder is None:
        return plain
    vector: np.ndarray = network.encoder.embed([task])[0]
    return vector


def q_target(rewards: Tensor) -> Tensor:
    """The soft Q-learning target of a single-step episode: the reward, clipped to [0, 1]."""
    with torch.no_grad():
        return rewards.detach().to(torch.float32).clamp(0.0, 1.0)


def q_loss(logits: Tensor, rewards: Tensor, weights: Tensor | None = None) -> Tensor:
    """Weighted binary cross-entropy between sigmoid(logits) and `q_target(rewards)`.

    Args:
        logits: Network outputs, shape (n,).
        rewards: Rewards in [0, 1] (graded rewards are soft labels), shape (n,).
        weights: Per-row credit weights >= 0 (used cases 1, others smaller); None = all 1.

    Returns:
        The weighted mean loss (a scalar); 0 when all weights are 0.
    """
    target = q_target(rewards)
    per_row = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if weights is None:
        return per_row.mean()
    w = weights.to(per_row.dtype)
    return (per_row * w).sum() / w.sum().clamp_min(1e-8)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with n torch intra-op threads, then restore the previous setting.

    Small networks are fastest (and fairest to a shared CPU) on one thread.
    """
    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init, dropout) and return a generator for sampling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_epochs(
    network: QNetwork,
    queries: Tensor,
    cases: Tensor,
    rewards: Tensor,
    weights: Tensor | None = None,
    *,
    epochs: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """Train on (query, case, reward[, weight]) rows in shuffled mini-batches; returns epoch losses.

    Shuffling uses a torch generator seeded with `network.config.seed`, so a run is reproducible
    given the same rows and initial weights.
    """
    cfg = network.config
    opt = optimizer or make_optimizer(network)
    gen = torch.Generator().manual_seed(cfg.seed)
    with network.lock:
        network.train()
        with torch_threads(1):
            losses = _run_epochs(network, opt, gen, queries, cases, rewards, weights, epochs)
        network.eval()
    return losses


def _run_epochs(
    network: QNetwork,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    queries: Tensor,
    cases: Tensor,
    rewards: Tensor,
    weights: Tensor | None,
    epochs: int | None,
) -> list[float]:
    cfg = network.config
    n = int(rewards.shape[0])
    losses: list[float] = []
    for _ in range(cfg.epochs if epochs is None else epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            w = weights[idx] if weights is not None else None
            loss = q_loss(network(queries[idx], cases[idx]), rewards[idx], w)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / max(n, 1))
    return losses


def make_optimizer(network: QNetwork) -> torch.optim.Optimizer:
    """AdamW with the config's learning rate and weight decay."""
    cfg = network.config
    return torch.optim.AdamW(network.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


@torch.no_grad()
def predict(network: QNetwork, queries: Tensor, cases: Tensor, batch: int = 8192) -> Tensor:
    """Q values sigmoid(logit) in [0, 1] for paired rows, in eval mode, batched."""
    shared = int(queries.shape[0]) == 1
    with network.lock, torch_threads(1):  # batch scoring, not on the per-query path
        network.eval()
        out = [
            torch.sigmoid(
                network(queries if shared else queries[i : i + batch], cases[i : i + batch])
            )
            for i in range(0, int(cases.shape[0]), batch)
        ]
    return torch.cat(out) if out else torch.zeros(0)
