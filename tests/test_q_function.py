"""Q-function core: the loss target, determinism, and that training fits a learnable signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memento.memory.q.network import (
    QConfig,
    QNetwork,
    predict,
    q_loss,
    q_target,
    seed_everything,
    train_epochs,
)
from memento.memory.q.offline import roc_auc


def test_target_is_the_reward_clipped_to_unit_interval() -> None:
    rewards = torch.tensor([1.0, 0.0, 0.25, 1.5, -0.2])
    assert q_target(rewards).tolist() == pytest.approx([1.0, 0.0, 0.25, 1.0, 0.0])
    assert not q_target(rewards.requires_grad_()).requires_grad


def test_loss_is_bce_against_the_reward() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0])
    rewards = torch.tensor([1.0, 0.0, 0.5])
    p = torch.sigmoid(logits)
    expected = -(rewards * p.log() + (1 - rewards) * (1 - p).log()).mean()
    assert float(q_loss(logits, rewards)) == pytest.approx(float(expected), rel=1e-5)


def test_loss_weights_scale_each_rows_credit() -> None:
    logits = torch.tensor([0.0, 3.0])
    rewards = torch.tensor([1.0, 0.0])
    only_first = q_loss(logits, rewards, torch.tensor([1.0, 0.0]))
    assert float(only_first) == pytest.approx(float(q_loss(logits[:1], rewards[:1])))
    halves = q_loss(logits, rewards, torch.tensor([0.5, 0.5]))
    assert float(halves) == pytest.approx(float(q_loss(logits, rewards)))


def test_loss_is_minimal_at_the_reward() -> None:
    reward = torch.tensor([0.3])
    losses = [float(q_loss(torch.logit(torch.tensor([p])), reward)) for p in (0.1, 0.3, 0.6)]
    assert losses[1] < losses[0] and losses[1] < losses[2]


def _toy(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1)
    c = torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1)
    r = ((q[:, 0] * c[:, 1]) > 0).float()  # reward depends on a query x case interaction
    return q, c, r


def test_training_lowers_the_loss_and_learns_an_interaction() -> None:
    cfg = QConfig(dim=8, hidden=16, epochs=40, dropout=0.0, lr=3e-3)
    q, c, r = _toy(600, 8, seed=1)
    seed_everything(cfg.seed)
    net = QNetwork(cfg)
    losses = train_epochs(net, q[:500], c[:500], r[:500])
    assert losses[-1] < 0.6 * losses[0]
    scores = predict(net, q[500:], c[500:]).numpy()
    assert roc_auc(r[500:].numpy(), scores) > 0.85


def test_same_seed_same_weights_and_scores() -> None:
    cfg = QConfig(dim=8, hidden=8, epochs=3, seed=7)
    q, c, r = _toy(200, 8, seed=2)
    outs = []
    for _ in range(2):
        seed_everything(cfg.seed)
        net = QNetwork(cfg)
        train_epochs(net, q, c, r)
        outs.append(predict(net, q, c))
    assert torch.equal(outs[0], outs[1])
    seed_everything(8)
    other = QNetwork(QConfig(dim=8, hidden=8, epochs=3, seed=8))
    train_epochs(other, q, c, r)
    assert not torch.equal(outs[0], predict(other, q, c))


def test_one_query_broadcasts_over_many_cases() -> None:
    cfg = QConfig(dim=8, hidden=8)
    seed_everything(0)
    net = QNetwork(cfg)
    q, c, _ = _toy(5, 8, seed=3)
    one = q[:1]
    together = predict(net, one, c)
    apart = torch.cat([predict(net, one, c[i : i + 1]) for i in range(5)])
    assert torch.allclose(together, apart, atol=1e-6)


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = rng.integers(0, 5, 60).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(y, s) == pytest.approx(pairwise)
    assert np.isnan(roc_auc(np.ones(3), np.arange(3.0)))


def test_untrained_residual_form_ranks_exactly_like_similarity() -> None:
    g = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(1, 16, generator=g), dim=-1)
    c = torch.nn.functional.normalize(torch.randn(50, 16, generator=g), dim=-1)
    net = QNetwork(QConfig(dim=16, hidden=8, form="residual", seed=3))
    scores = predict(net, q, c)
    cosine = (c @ q[0]).numpy()
    assert np.argsort(-scores.numpy()).tolist() == np.argsort(-cosine).tolist()


def test_residual_form_learns_to_overrule_similarity_per_task() -> None:
    # Two kinds of task; for each, the case most similar to it is harmful and a less similar
    # case helps. The residual form must learn this per task: no case is best for both.
    g = torch.Generator().manual_seed(5)
    dim = 16
    base = torch.nn.functional.normalize(torch.randn(4, dim, generator=g), dim=-1)
    near_a, far_a, near_b, far_b = base
    far_a = torch.nn.functional.normalize(far_a * 0.3 + near_a, dim=-1)  # less similar to A
    far_b = torch.nn.functional.normalize(far_b * 0.3 + near_b, dim=-1)

    def task(center: torch.Tensor, n: int) -> torch.Tensor:
        noise = 0.2 * torch.randn(n, dim, generator=g)
        return torch.nn.functional.normalize(center + noise, dim=-1)

    qa, qb = task(near_a, 100), task(near_b, 100)
    queries = torch.cat([qa, qa, qb, qb])
    cases = torch.cat([near_a.expand(100, -1), far_a.expand(100, -1)] * 1 + [
        near_b.expand(100, -1), far_b.expand(100, -1)
    ])  # fmt: skip
    rewards = torch.cat([torch.zeros(100), torch.ones(100), torch.zeros(100), torch.ones(100)])
    net = QNetwork(QConfig(dim=dim, hidden=8, form="residual", epochs=60, lr=1e-2, dropout=0.0))
    before = predict(net, qa[:1], torch.stack([near_a, far_a]))
    assert before[0] > before[1]  # similarity prefers the harmful case
    train_epochs(net, queries, cases, rewards)
    candidates = torch.stack([near_a, far_a, near_b, far_b])
    for probe, best in ((task(near_a, 1), 1), (task(near_b, 1), 3)):
        assert int(predict(net, probe, candidates).argmax()) == best


def test_config_rejects_an_unknown_form() -> None:
    with pytest.raises(ValueError, match="form"):
        QConfig(form="transformer")
    with pytest.raises(ValueError, match="prior_scale"):
        QConfig(form="residual", prior_scale=-1.0)


def test_residual_form_survives_a_checkpoint_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from memento.memory.q.checkpoint import load_checkpoint, save_checkpoint

    net = QNetwork(QConfig(dim=8, hidden=4, form="residual", prior_scale=12.0, seed=2))
    q, c, r = _toy(64, 8, seed=2)
    train_epochs(net, q, c, r, epochs=2)
    save_checkpoint(tmp_path, net, embedding_model="toy", fingerprint="f", step=1)
    loaded = load_checkpoint(tmp_path, embedding_model="toy", fingerprint="f").network
    assert loaded.config.form == "residual" and loaded.config.prior_scale == 12.0
    assert torch.allclose(predict(loaded, q, c), predict(net, q, c))
