"""QSelector over a real (embedded) case bank: Q ranking, shortlist, softmax, quotas, fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from memento.memory.q.checkpoint import CheckpointError, save_checkpoint
from memento.memory.q.config import read_cases
from memento.memory.q.network import QNetwork, seed_everything
from memento.memory.q.selector import QSelector, pick_order, q_scores
from memento.memory.retriever import CaseRetriever
from memento.memory.selection import CaseSelector
from memento.memory.similarity import SimilaritySelector
from memento.testing import make_case
from tests.support.q import toy_bank, toy_config

TASK = "alpha river question"


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    bank, good, bad = toy_bank(tmp_path)
    seed_everything(0)
    net = QNetwork(toy_config())
    return bank, good, bad, net


def _expected(bank, net, task: str) -> list[str]:  # type: ignore[no-untyped-def]
    ids = bank.all_ids()
    vectors = read_cases(bank, net.config.case_side, ids)  # the label side by default
    scores = q_scores(net, bank.embed_query(task), vectors)
    return [ids[i] for i in np.argsort(-scores, kind="stable")]


def test_greedy_is_top_k_by_q(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    sel = QSelector(bank, network=net)
    assert isinstance(sel, CaseSelector) and sel.name == "q"
    picked = sel.select(TASK, k=4)
    assert [s.case.id for s in picked] == _expected(bank, net, TASK)[:4]
    scores = [s.score for s in picked]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert sel.select(TASK, k=0) == []


def test_shortlist_reranks_the_ann_candidates(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    sel = QSelector(bank, network=net, exact_below=0, shortlist=5)
    ann_ids, _, _ = bank.nearest_vectors(bank.embed_query(TASK), 5)
    picked = sel.select(TASK, k=3)
    assert {s.case.id for s in picked} <= set(ann_ids)
    ranked = [i for i in _expected(bank, net, TASK) if i in set(ann_ids)]
    assert [s.case.id for s in picked] == ranked[:3]


def test_softmax_sampling_is_seeded_and_explores(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    draws = [
        [s.case.id for s in QSelector(bank, network=net, mode="softmax", seed=5).select(TASK, k=3)]
        for _ in range(2)
    ]
    assert draws[0] == draws[1]
    hot = QSelector(bank, network=net, mode="softmax", temperature=100.0, seed=1)
    assert hot.name == "q_softmax"
    seen = {tuple(s.case.id for s in hot.select(TASK, k=3)) for _ in range(10)}
    assert len(seen) > 1
    cold = QSelector(bank, network=net, mode="softmax", temperature=1e-6, seed=1)
    assert [s.case.id for s in cold.select(TASK, k=4)] == _expected(bank, net, TASK)[:4]


def test_pick_order_softmax_follows_the_scores() -> None:
    rng = np.random.default_rng(0)
    scores = np.array([0.9, 0.1, 0.5])
    firsts = [int(pick_order(scores, "softmax", 0.2, rng)[0]) for _ in range(400)]
    counts = np.bincount(firsts, minlength=3)
    assert counts[0] > counts[2] > counts[1]
    with pytest.raises(ValueError, match="temperature"):
        pick_order(scores, "softmax", 0.0, rng)


def test_label_quotas(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    sel = QSelector(bank, network=net)
    picked = sel.select(TASK, k=4, positive=1, negative=3)
    labels = sorted(s.case.label for s in picked)
    assert labels == ["negative", "negative", "negative", "positive"]
    only_pos = sel.select(TASK, k=4, negative=0)
    assert len(only_pos) == 4 and {s.case.label for s in only_pos} == {"positive"}
    with pytest.raises(ValueError, match="quota"):
        sel.select(TASK, k=4, positive=-1)


def test_missing_checkpoint_falls_back_to_similarity(
    setup, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    folder = tmp_path / "q"
    sel = QSelector(bank, checkpoint_dir=folder)
    with caplog.at_level(logging.WARNING):
        picked = sel.select(TASK, k=3)
    assert "falling back to similarity" in caplog.text
    expected = SimilaritySelector(bank).select(TASK, k=3)
    assert [s.case.id for s in picked] == [s.case.id for s in expected]
    strict = QSelector(bank, checkpoint_dir=folder, allow_fallback=False)
    for _ in range(2):
        with pytest.raises(CheckpointError):
            strict.select(TASK, k=3)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sel.select(TASK, k=3)
    assert "falling back" not in caplog.text  # warned once, not on every query
    # a checkpoint saved later is picked up without rebuilding the selector
    save_checkpoint(folder, net, embedding_model=bank.embedding_model, step=1)
    assert [s.case.id for s in sel.select(TASK, k=3)] == _expected(bank, net, TASK)[:3]
    (folder / "q.pt").write_bytes(b"corrupt")
    assert [s.case.id for s in sel.select(TASK, k=3)] == [s.case.id for s in expected]


def test_checkpoint_of_another_embedding_model_is_refused(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    save_checkpoint(tmp_path / "q", net, embedding_model="other-model", step=1)
    sel = QSelector(bank, checkpoint_dir=tmp_path / "q", allow_fallback=False)
    with pytest.raises(CheckpointError, match="other-model"):
        sel.select(TASK)


def test_q_selector_as_langchain_retriever(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    retriever = CaseRetriever(selector=QSelector(bank, network=net), k=3)
    docs = retriever.invoke(TASK)
    assert [d.id for d in docs] == _expected(bank, net, TASK)[:3]
    assert all(0.0 <= d.metadata["score"] <= 1.0 and d.metadata["plan"] for d in docs)


async def test_q_retriever_async(setup) -> None:  # type: ignore[no-untyped-def]
    bank, _, _, net = setup
    retriever = CaseRetriever(selector=QSelector(bank, network=net), k=2)
    docs = await retriever.ainvoke(TASK)
    assert [d.id for d in docs] == _expected(bank, net, TASK)[:2]


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="checkpoint_dir or a network"):
        QSelector(object())  # type: ignore[arg-type]


def test_untrained_residual_network_selects_like_similarity(tmp_path: Path) -> None:
    bank, _, _ = toy_bank(tmp_path)
    net = QNetwork(toy_config(form="residual"))
    by_q = QSelector(bank, network=net, exact_below=10**6).select(TASK, k=3)
    by_similarity = SimilaritySelector(bank).select(TASK, k=3)
    assert [s.case.id for s in by_q] == [s.case.id for s in by_similarity]


def test_scoring_waits_for_a_training_step_of_the_same_network() -> None:
    """Selection never scores mid-step (train mode, weights changing): it takes the lock."""
    import threading

    from memento.memory.q.network import QConfig, QNetwork
    from memento.memory.q.selector import q_scores

    network = QNetwork(QConfig(dim=8))
    query, cases = np.ones(8, dtype=np.float32), np.ones((3, 8), dtype=np.float32)
    done = threading.Event()

    def score() -> None:
        q_scores(network, query, cases)
        done.set()

    with network.lock:  # stands for an update step in progress
        network.train()
        worker = threading.Thread(target=score)
        worker.start()
        assert not done.wait(0.3)  # blocked while the "step" holds the lock
        network.eval()
    worker.join(10)
    assert done.is_set() and not network.training


def _spy_searches(bank, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:  # type: ignore[no-untyped-def]
    """Record the namespace of each shortlist search the bank is asked for (either form)."""
    seen: list[str | None] = []

    def spying(name: str):  # type: ignore[no-untyped-def]
        search = getattr(bank, name)

        def spy(vector, k, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(kwargs.get("namespace"))
            return search(vector, k, **kwargs)

        return spy

    for name in ("nearest_vectors", "nearest_ids"):
        monkeypatch.setattr(bank, name, spying(name))
    return seen


def test_shortlist_of_a_one_namespace_bank_is_one_unfiltered_search(  # type: ignore[no-untyped-def]
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, _, _, net = setup
    seen = _spy_searches(bank, monkeypatch)
    picked = QSelector(bank, network=net, exact_below=0, shortlist=5).select(
        TASK, k=3, namespace="default"
    )
    ann_ids, _, _ = bank.nearest_vectors(bank.embed_query(TASK), 5)
    ranked = [i for i in _expected(bank, net, TASK) if i in set(ann_ids)]
    assert [s.case.id for s in picked] == ranked[:3]
    assert seen[0] is None and len(seen) == 2  # the selector's search, then this test's


def _team_near_the_task(bank, copies: int, shortlist: int) -> tuple[set[str], set[str]]:  # type: ignore[no-untyped-def]
    """Add `copies` near twins of TASK in namespace "team"; their ids and the bank-wide nearest."""
    others = set(
        bank.add_cases([make_case(f"{TASK} {i}", namespace="team") for i in range(copies)])
    )
    nearest, _, _ = bank.nearest_vectors(bank.embed_query(TASK), shortlist)
    return others, set(nearest)


def test_shortlist_in_a_mixed_bank_keeps_to_the_namespace(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an untrained residual network ranks as similarity does, so the twins are read first
    bank, _, _ = toy_bank(tmp_path)
    net = QNetwork(toy_config(form="residual"))
    others, nearest = _team_near_the_task(bank, copies=2, shortlist=10)
    assert others <= nearest
    similar = SimilaritySelector(bank).select(TASK, k=3, namespace="default")
    seen = _spy_searches(bank, monkeypatch)
    sel = QSelector(bank, network=net, exact_below=0, shortlist=10)
    picked = sel.select(TASK, k=3, namespace="default")
    assert [s.case.id for s in picked] == [s.case.id for s in similar]
    assert seen == [None]  # 2 records of "team" read against 3 picks: the shared search is kept
    team = sel.select(TASK, k=2, namespace="team")
    assert {s.case.id for s in team} == others and seen == [None, None]
    bank.add_cases([make_case(f"{TASK} 2", namespace="team")])  # a third twin: 3 strays, 3 picks
    assert [s.case.id for s in sel.select(TASK, k=3, namespace="default")] == [
        s.case.id for s in similar
    ]
    assert seen == [None, None, None, "default"]  # ... so the namespace is searched alone


def test_namespace_crowded_out_of_the_shortlist_is_searched_alone(  # type: ignore[no-untyped-def]
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank, _, _, net = setup
    others, nearest = _team_near_the_task(bank, copies=8, shortlist=8)
    assert nearest == others  # the bank-wide shortlist holds no "default" case
    own, _, _ = bank.nearest_vectors(bank.embed_query(TASK), 8, namespace="default")
    seen = _spy_searches(bank, monkeypatch)
    picked = QSelector(bank, network=net, exact_below=0, shortlist=8).select(
        TASK, k=3, namespace="default"
    )
    ranked = [i for i in _expected(bank, net, TASK) if i in set(own)]
    assert [s.case.id for s in picked] == ranked[:3]
    assert seen == [None, "default"]
    quota = QSelector(bank, network=net, exact_below=0, shortlist=8).select(
        TASK, k=3, namespace="default", negative=2, positive=0
    )
    assert len(quota) == 2 and {s.case.label for s in quota} == {"negative"}


def test_candidates_keep_to_the_namespace_unless_asked(setup) -> None:  # type: ignore[no-untyped-def]
    bank, good, bad, net = setup
    others, _ = _team_near_the_task(bank, copies=8, shortlist=8)
    sel = QSelector(bank, network=net, exact_below=0, shortlist=8)
    ids, vectors, how = sel.candidates(TASK, "default")
    assert how == "shortlist" and len(ids) == 8 == len(vectors)
    assert set(ids) <= set(good) | set(bad)
    wide, _, _ = sel.candidates(TASK, "default", filtered=False)
    assert set(wide) == others
