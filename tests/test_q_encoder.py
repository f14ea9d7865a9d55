"""The tuned query encoder: trained with Q, seeded, stored once beside the checkpoint, and the
reader of tasks wherever that network scores (selector, learner rows, checkpoint round trip)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from memento.memory.bundle import load_bundle, save_bundle
from memento.memory.case_bank import CaseBank
from memento.memory.q.checkpoint import (
    CheckpointError,
    checkpoint_from_payload,
    checkpoint_payload,
    load_checkpoint,
    save_checkpoint,
)
from memento.memory.q.config import read_cases
from memento.memory.q.encoder import (
    ENCODER_PATTERN,
    WORD_ROWS,
    WORD_VALUES,
    QueryEncoder,
    state_digest,
)
from memento.memory.q.learner import QLearner
from memento.memory.q.network import QConfig, QNetwork, query_vector, seed_everything
from memento.memory.q.offline import train_on_pairs
from memento.memory.q.pairs import Pair
from memento.memory.q.replay import Transition
from memento.memory.q.selector import QSelector, q_scores
from memento.memory.q.tune import QUERIES_PER_STEP, soup, tune
from memento.testing import HashEmbeddings, make_case

EMB = HashEmbeddings(384)
MODEL = "test-hash-384"


def embed(texts: object) -> np.ndarray:
    return np.asarray(EMB.embed_documents(list(texts)), dtype=np.float32)  # type: ignore[call-overload]


def _pairs() -> list[Pair]:
    """Questions on rivers succeed, on film awards fail; 4 cases shown per question."""
    rows = []
    for i in range(24):
        easy = i % 2 == 0
        query = f"{'which river flows through' if easy else 'who won the film award in'} {i}"
        for j in range(4):
            case = (i + j) % 9
            label = "positive" if case % 3 else "negative"
            pair = Pair(query=query, case=f"case {case}", reward=float(easy), case_label=label)
            rows.append(pair)
    return rows


@pytest.fixture(scope="module")
def trained() -> tuple[QNetwork, dict[str, object], list[tuple[str, int, int]]]:
    seen: list[tuple[str, int, int]] = []
    net, report = train_on_pairs(
        _pairs(),
        embed,
        holdout=0.25,
        seed=0,
        config=QConfig(seed=0, encoder_epochs=3),
        tune_encoder=True,
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    return net, report, seen


def test_training_is_seeded_reported_and_moves_the_encoder(trained) -> None:  # type: ignore[no-untyped-def]
    net, report, seen = trained
    assert net.encoder is not None and net.config.query_encoder == net.encoder.digest()
    assert report["query_encoder"] == net.config.query_encoder
    assert net.encoder.digest() != QueryEncoder().digest()  # its layers were trained
    # progress: the texts embedded, then one call per step, counting up to the announced total
    texts = [(d, t) for phase, d, t in seen if phase == "embedding texts"]
    assert texts and texts[-1][0] == texts[-1][1] == len(
        {p.query for p in _pairs()} | {p.case for p in _pairs()}
    )
    steps = [(d, t) for phase, d, t in seen if phase.startswith("training")]
    assert [d for d, _ in steps] == list(range(1, len(steps) + 1))
    # 3 epochs x 5 steps of 4 of the 18 training queries (one member: the default)
    assert QUERIES_PER_STEP == 4 and report["n_train_queries"] == 18
    assert {t for _, t in steps} == {len(steps)} and len(steps) == report["steps"] == 15
    again, report2 = train_on_pairs(
        _pairs(), embed, holdout=0.25, seed=0, config=QConfig(seed=0, encoder_epochs=3),
        tune_encoder=True,
    )  # fmt: skip
    assert again.config.query_encoder == net.config.query_encoder
    assert report2["auc"] == report["auc"] and report2["final_loss"] == report["final_loss"]
    other, _ = train_on_pairs(
        _pairs(), embed, holdout=0.25, seed=1, config=QConfig(seed=1, encoder_epochs=3),
        tune_encoder=True,
    )  # fmt: skip
    assert other.config.query_encoder != net.config.query_encoder


def test_the_soup_is_the_mean_of_its_members_weights() -> None:
    """Two members trained alone, from the soup's start and shuffles, average to the soup."""
    cfg = QConfig(seed=3, encoder_epochs=1, encoder_members=2)
    rows = _pairs()
    texts = sorted({p.case for p in rows})
    vectors = dict(zip(texts, embed(texts), strict=True))
    net, enc, _ = soup(cfg, rows, vectors)
    alone = []
    for member in range(2):
        seed_everything(cfg.seed)
        one_net, one_enc = QNetwork(cfg), QueryEncoder()
        tune(one_net, one_enc, rows, vectors, member=member)
        alone.append((one_net.state_dict(), one_enc.state()))
    for name, value in net.state_dict().items():
        mean = (alone[0][0][name] + alone[1][0][name]) / 2
        assert torch.allclose(value, mean, atol=1e-6), name
        assert not torch.allclose(alone[0][0][name], alone[1][0][name]), name  # members differ
    for name, value in enc.state().items():
        if name == WORD_ROWS:  # both members moved the rows of the same tokens
            assert torch.equal(value, alone[0][1][name]) and torch.equal(value, alone[1][1][name])
            continue
        assert torch.allclose(value, (alone[0][1][name] + alone[1][1][name]) / 2, atol=1e-6)
    # the embeddings trained, but only the rows of the training tasks' tokens moved (no weight
    # decay on them), so the stored encoder holds those rows, not the 30,522-row vocabulary
    ids = enc.tokenizer(sorted({p.query for p in rows}))["input_ids"]
    assert set(enc.state()[WORD_ROWS].tolist()) == {i for seq in ids for i in seq}
    assert enc.state()[WORD_VALUES].shape == (len(enc.state()[WORD_ROWS]), 384)
    with pytest.raises(ValueError, match="encoder_members"):
        QConfig(encoder_members=0)


def test_a_stored_state_loads_back_and_an_older_layers_only_state_still_loads(trained) -> None:  # type: ignore[no-untyped-def]
    net, _, _ = trained
    tuned = net.encoder
    again = QueryEncoder(tuned.state())
    assert again.digest() == tuned.digest()
    texts = ["which river flows through 3", "an unseen task about comets"]
    assert np.allclose(again.embed(texts), tuned.embed(texts), atol=1e-6)
    # an encoder stored before the embeddings trained: its layers, the shipped embeddings
    layers = {k: v for k, v in tuned.state().items() if not k.startswith("embeddings.")}
    older = QueryEncoder(layers)
    base = QueryEncoder()
    words = "embeddings.word_embeddings.weight"
    assert torch.equal(older.model.state_dict()[words], base.model.state_dict()[words])
    assert older.digest() == state_digest(layers)  # it stores the older file again, as it was
    assert base.state().keys() == layers.keys()  # as shipped: no embedding tensors stored
    with pytest.raises(ValueError, match="query encoder's state"):
        QueryEncoder({**layers, "embeddings.no_such.weight": torch.zeros(3)})


def test_other_case_widths_are_refused_with_the_way_out() -> None:
    small = HashEmbeddings(32)
    with pytest.raises(ValueError, match="frozen-encoder"):
        train_on_pairs(
            _pairs(),
            lambda t: np.asarray(small.embed_documents(list(t)), dtype=np.float32),
            seed=0,
            tune_encoder=True,
        )


def test_checkpoint_stores_the_encoder_once_and_loads_it_back(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net, _, _ = trained
    save_checkpoint(tmp_path, net, embedding_model=MODEL, step=1)
    file = tmp_path / ENCODER_PATTERN.format(digest=net.config.query_encoder)
    stamp = file.stat().st_mtime_ns
    os.utime(file, ns=(stamp - 10**9, stamp - 10**9))
    save_checkpoint(tmp_path, net, embedding_model=MODEL, step=2)  # an online save
    assert file.stat().st_mtime_ns == stamp - 10**9  # not rewritten
    loaded = load_checkpoint(tmp_path, embedding_model=MODEL).network
    assert loaded.encoder is not None and loaded.encoder.digest() == net.config.query_encoder
    task = "which river flows through 99"
    assert np.allclose(loaded.encoder.embed([task]), net.encoder.embed([task]), atol=1e-6)  # type: ignore[union-attr]


def test_missing_encoder_or_a_shared_payload_is_a_clear_error(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net, _, _ = trained
    meta = save_checkpoint(tmp_path, net, embedding_model=MODEL, step=1)
    with pytest.raises(CheckpointError, match="frozen-encoder"):
        checkpoint_from_payload(checkpoint_payload(net, meta), "shared store")
    (tmp_path / ENCODER_PATTERN.format(digest=net.config.query_encoder)).unlink()
    with pytest.raises(CheckpointError, match="q_encoder-"):
        load_checkpoint(tmp_path)


def test_selector_and_learner_read_tasks_through_the_encoder(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    net, _, _ = trained
    bank = CaseBank(path=tmp_path / "chroma", embeddings=EMB, dedup_threshold=None)
    bank.add_cases([make_case(f"case {i} about rivers and awards") for i in range(9)])
    folder = tmp_path / "q"
    save_checkpoint(folder, net, embedding_model=bank.embedding_model, step=1)
    task = "which river flows through 77"
    plain = bank.embed_query(task)
    tuned = query_vector(net, task, plain)
    assert not np.allclose(tuned, plain)
    ids = bank.all_ids()
    vectors = read_cases(bank, net.config.case_side, ids)  # the cases as Q reads them
    expected = dict(zip(ids, q_scores(net, tuned, vectors), strict=True))
    picked = QSelector(bank, checkpoint_dir=folder).select(task, k=4)
    assert [s.score for s in picked] == pytest.approx(sorted(expected.values(), reverse=True)[:4])
    assert all(s.score == pytest.approx(expected[s.case.id]) for s in picked)
    learner = QLearner(bank, folder, allow_fallback=False)
    t = Transition.of_run(task, plain, ids[:3], None, 1.0, namespace="default", key=None)
    queries, _, _, _ = learner.rows([t])
    assert torch.allclose(queries, torch.from_numpy(np.stack([tuned] * 3)), atol=1e-6)
    learner.close()


def test_a_memory_bundle_carries_the_encoder(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A bundle of a store whose checkpoint reads through a tuned encoder loads elsewhere whole."""
    net, _, _ = trained
    bank = CaseBank(path=tmp_path / "src" / "chroma", embeddings=EMB, dedup_threshold=None)
    bank.add_cases([make_case("case 1 about rivers")])
    save_checkpoint(tmp_path / "src" / "q", net, embedding_model=bank.embedding_model, step=1)
    stale = tmp_path / "src" / "q" / ENCODER_PATTERN.format(digest="0" * 16)
    stale.write_bytes(b"an older version's encoder: not part of the checkpoint")
    save_bundle(tmp_path / "m.zip", bank, tmp_path / "src" / "q")
    target = CaseBank(path=tmp_path / "dst" / "chroma", embeddings=EMB, dedup_threshold=None)
    load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q")
    assert not (tmp_path / "dst" / "q" / stale.name).exists()
    loaded = load_checkpoint(tmp_path / "dst" / "q", embedding_model=MODEL).network
    assert loaded.encoder is not None and loaded.encoder.digest() == net.config.query_encoder
