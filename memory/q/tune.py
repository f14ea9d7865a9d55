"""Offline training of Q together with its query encoder, on logged (task, case, reward) rows.

Rows are grouped by task: a step reads `QUERIES_PER_STEP` tasks through the encoder (with
autograd) and trains the encoder (layers and embeddings) and the network on all their rows at
once against the cases' cached vectors. A task's rows share one encoder pass, so an epoch over
upstream's 700 training queries costs 700 passes, not 5,600.

`soup` runs `QConfig.encoder_members` such trainings from the same start (the pretrained
encoder, one seeded head) over other shuffles and averages their weights: one network and one
encoder, so selection costs what a single run's does, with less of a single run's luck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from memento.infra.progress import ProgressFn
from memento.memory.q.encoder import QueryEncoder
from memento.memory.q.network import QConfig, QNetwork, q_loss, seed_everything
from memento.memory.q.pairs import Pair

QUERIES_PER_STEP = 4
"""Tasks per optimisation step (x 8 shown cases = 32 rows on upstream's log, the classifier's
batch). Chosen on splits 5-9 of that log: 4 gave AUC 0.679 against 0.667 for 8 (higher on each
split) and 0.678 for 2 at 1.5x the time (docs/numbers.md)."""


def tune(
    network: QNetwork,
    encoder: QueryEncoder,
    rows: Sequence[Pair],
    case_vectors: dict[str, np.ndarray],
    *,
    member: int = 0,
    progress: ProgressFn | None = None,
) -> list[float]:
    """Train `network` and `encoder` jointly on `rows`, seeded by the config; epoch losses.

    `case_vectors` maps each row's case text to its cached vector. Shuffling draws from a numpy
    Generator seeded with (`network.config.seed`, `member`) (the caller seeds torch), so a run
    repeats and a soup's members see other orders.
    """
    cfg = network.config
    runs: dict[str, list[Pair]] = {}
    for p in rows:
        runs.setdefault(p.query, []).append(p)
    queries = sorted(runs)
    opt = torch.optim.AdamW(
        [
            {"params": encoder.trainable(), "lr": cfg.encoder_lr},
            {"params": encoder.embeddings(), "lr": cfg.encoder_lr, "weight_decay": 0.0},
            {"params": list(network.parameters()), "lr": cfg.lr},
        ],
        weight_decay=cfg.weight_decay,
    )
    rng = np.random.default_rng([cfg.seed, member])
    total = run_steps(cfg, rows)
    done = 0
    losses: list[float] = []
    with network.lock, encoder.lock:
        network.train()
        encoder.model.train()
        try:
            for _ in range(cfg.encoder_epochs):
                order = rng.permutation(len(queries))
                epoch_loss, n_rows = 0.0, 0
                for start in range(0, len(order), QUERIES_PER_STEP):
                    chunk = [queries[int(i)] for i in order[start : start + QUERIES_PER_STEP]]
                    loss, n = _step(network, encoder, opt, chunk, runs, case_vectors)
                    epoch_loss += loss * n
                    n_rows += n
                    done += 1
                    if progress is not None:
                        progress("training Q and its query encoder", done, total)
                losses.append(epoch_loss / max(n_rows, 1))
        finally:
            network.eval()
            encoder.model.eval()
            encoder.forget()
    return losses


def run_steps(config: QConfig, rows: Sequence[Pair]) -> int:
    """Optimisation steps of one tuned run over `rows` (a soup takes this per member)."""
    return config.encoder_epochs * math.ceil(len({p.query for p in rows}) / QUERIES_PER_STEP)


def soup(
    config: QConfig,
    rows: Sequence[Pair],
    case_vectors: dict[str, np.ndarray],
    *,
    progress: ProgressFn | None = None,
) -> tuple[QNetwork, QueryEncoder, list[float]]:
    """Average `config.encoder_members` tuned runs: the network, its encoder, last epoch losses.

    The network's config does not name the encoder yet (the caller does). Each member starts
    from the pretrained encoder and a head seeded with `config.seed`, so their weights stay
    averageable; only the shuffle differs (and so the rows each dropout mask meets).

    Raises:
        ValueError: `config.dim` is not the encoder's width (cases embedded by another model).
    """
    members = config.encoder_members
    per = run_steps(config, rows)
    sums: tuple[dict[str, torch.Tensor], ...] = ({}, {}, {})  # network, embeddings, layers
    network, encoder, losses = None, None, []
    for member in range(members):
        encoder = QueryEncoder()
        width = int(encoder.model.config.hidden_size)
        if config.dim != width:
            raise ValueError(
                f"a tuned query encoder reads {width}-d MiniLM vectors, but the cases are "
                f"{config.dim}-d; train over frozen vectors instead (--frozen-encoder)"
            )
        seed_everything(config.seed)
        network = QNetwork(config)

        def told(label: str, done: int, total: int, offset: int = member * per) -> None:
            if progress is not None:
                progress(label, offset + done, members * per)

        losses = tune(network, encoder, rows, case_vectors, member=member, progress=told)
        if members > 1:  # one run is its own average: no copy
            for total, module in zip(sums, (network, *encoder.tuned()), strict=True):
                for name, tensor in module.state_dict().items():
                    if tensor.is_floating_point():
                        total[name] = total.get(name, 0) + tensor.detach().double()
    assert network is not None and encoder is not None  # members >= 1 (QConfig checks)
    if members > 1:
        for total, module in zip(sums, (network, *encoder.tuned()), strict=True):
            averaged = {n: (t / members).float() for n, t in total.items()}
            module.load_state_dict(averaged, strict=False)  # integer buffers stay as they are
        encoder.forget()
    return network, encoder, losses


def _step(
    network: QNetwork,
    encoder: QueryEncoder,
    opt: torch.optim.Optimizer,
    chunk: list[str],
    runs: dict[str, list[Pair]],
    case_vectors: dict[str, np.ndarray],
) -> tuple[float, int]:
    """One optimisation step on the rows of `chunk`'s tasks; its loss and row count."""
    index = [(j, p) for j, q in enumerate(chunk) for p in runs[q]]
    tasks = encoder.forward(chunk)[[j for j, _ in index]]
    cases = torch.from_numpy(np.stack([case_vectors[p.case] for _, p in index]))
    rewards = torch.tensor([p.reward for _, p in index], dtype=torch.float32)
    loss = q_loss(network(tasks, cases), rewards)
    opt.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    opt.step()
    return float(loss.detach()), len(index)
