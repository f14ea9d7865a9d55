"""CaseBank over an embedded Chroma store: records, counters, filters, cached vectors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from memento.memory.case_bank import CaseBank, EmbeddingModelMismatch
from memento.memory.codec import case_id_for
from memento.memory.records import Plan
from memento.settings import Settings
from memento.testing import HashEmbeddings, make_case

PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}


@pytest.fixture
def bank(tmp_path: Path) -> CaseBank:
    return CaseBank(path=tmp_path / "chroma", embeddings=HashEmbeddings(), dedup_threshold=None)


def test_add_get_roundtrip_every_field(bank: CaseBank) -> None:
    cid = bank.add("Who wrote Hamlet?", PLAN, reward=1.0, source="unit", namespace="alice")
    case = bank.get(cid)
    assert case is not None
    assert case.task == "Who wrote Hamlet?"
    assert case.plan == Plan.parse(PLAN)
    assert (case.label, case.reward, case.source, case.namespace) == (
        "positive",
        1.0,
        "unit",
        "alice",
    )
    assert (case.times_retrieved, case.times_helpful, case.observations) == (0, 0, 1)
    assert cid == case_id_for("alice", "Who wrote Hamlet?", Plan.parse(PLAN))


def test_label_follows_reward_unless_given(bank: CaseBank) -> None:
    low = bank.add("a task", PLAN, reward=0.2)
    forced = bank.add("another task", PLAN, reward=0.2, label="positive")
    assert bank.get(low).label == "negative"  # type: ignore[union-attr]
    assert bank.get(forced).label == "positive"  # type: ignore[union-attr]


def test_plan_accepts_json_text_and_rejects_bad_shape(bank: CaseBank) -> None:
    cid = bank.add("t1", '{"plan":[{"id":1,"description":"x"}]}', reward=0.0)
    assert bank.get(cid).plan.plan[0].description == "x"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        bank.add("t2", {"steps": []}, reward=0.0)
    assert bank.count() == 1


def test_explicit_id_is_idempotent(bank: CaseBank) -> None:
    first = bank.add("Who wrote Hamlet?", PLAN, reward=1.0, case_id="thread-1")
    again = bank.add("Who wrote Hamlet?", PLAN, reward=0.0, case_id="thread-1")
    assert first == again == "thread-1"
    assert bank.count() == 1
    assert bank.get("thread-1").reward == 1.0  # type: ignore[union-attr]


def test_update_counters_and_relabel(bank: CaseBank) -> None:
    cid = bank.add("Who wrote Hamlet?", PLAN, reward=1.0)
    bank.update(cid, retrieved=2, helpful=1)
    updated = bank.update(cid, reward=0.0, retrieved=1)
    assert (updated.times_retrieved, updated.times_helpful) == (3, 1)
    assert (updated.reward, updated.label) == (0.0, "negative")
    assert bank.get(cid) == updated
    with pytest.raises(KeyError, match="nope"):
        bank.update("nope", reward=1.0)
    with pytest.raises(ValueError):
        bank.update(cid, reward=2.0)


def test_rewards_come_back_bit_for_bit(bank: CaseBank) -> None:
    """Chroma's float metadata alone comes back a unit in the last place off for about 1 in 10
    random floats; the stored text keeps every reward exact, through an update too."""
    rng = random.Random(0)
    rewards = [rng.random() for _ in range(200)]
    ids = bank.add_cases(
        [make_case(f"task {i}", reward=r) for i, r in enumerate(rewards)], dedup=False
    )
    assert [c.reward for c in bank.get_many(ids)] == rewards
    new = rng.random()
    assert bank.update(ids[0], reward=new).reward == new
    assert bank.get(ids[0]).reward == new  # type: ignore[union-attr]


def test_a_reward_set_without_its_text_wins_over_the_stale_text(bank: CaseBank) -> None:
    """A writer that sets only the float (older code on a shared server) is not overridden."""
    (cid,) = bank.add_cases([make_case("t", reward=0.25)])
    bank.collection.update(ids=[cid], metadatas=[{"reward": 0.75, "label": "positive"}])
    assert bank.get(cid).reward == 0.75  # type: ignore[union-attr]


def test_delete_counts_only_existing(bank: CaseBank) -> None:
    a = bank.add("task a", PLAN, reward=1.0)
    bank.add("task b", PLAN, reward=1.0)
    assert bank.delete([a, "missing", a]) == 1
    assert bank.count() == 1
    assert bank.get(a) is None


def test_namespaces_keep_cases_apart(bank: CaseBank) -> None:
    bank.add("capital of France", PLAN, reward=1.0, namespace="alice")
    bank.add("capital of France", PLAN, reward=0.0, namespace="bob")
    bank.add("capital of Spain", PLAN, reward=1.0, namespace="bob")
    assert bank.count() == 3
    assert bank.count("alice") == 1 and bank.count("bob") == 2
    hits = bank.search("capital of France", k=5, namespace="alice")
    assert [h.case.namespace for h in hits] == ["alice"]
    assert {c.namespace for c in bank.list(namespace="bob")} == {"bob"}
    assert bank.stats()["namespaces"] == {"alice": 1, "bob": 2}


def test_list_filters_orders_and_pages(bank: CaseBank) -> None:
    cases = [
        make_case(
            f"task number {i}",
            label="positive" if i % 2 else "negative",
            created_at=f"2026-01-0{i + 1}T00:00:00+00:00",
        )
        for i in range(6)
    ]
    bank.add_cases(list(reversed(cases)), dedup=False)
    listed = bank.list()
    assert [c.task for c in listed] == [c.task for c in cases]
    assert [c.task for c in bank.list(limit=2, offset=2)] == ["task number 2", "task number 3"]
    assert all(c.label == "negative" for c in bank.list(label="negative"))
    assert len(bank.list(label="negative")) == 3


def test_search_scores_are_cosine_best_first(bank: CaseBank) -> None:
    bank.add_cases(
        [
            make_case("Who wrote Hamlet?"),
            make_case("What is the capital of Peru?"),
            make_case("Who wrote Macbeth?", label="negative"),
        ],
        dedup=False,
    )
    hits = bank.search("Who wrote Hamlet?", k=3)
    assert hits[0].case.task == "Who wrote Hamlet?"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    query = bank.embed_query("Who wrote Hamlet?")
    for hit in hits:
        vec = bank.vectors([hit.case.id])[0]
        assert hit.score == pytest.approx(float(vec @ query), abs=1e-5)
    negatives = bank.search("Who wrote Hamlet?", k=3, label="negative")
    assert [h.case.task for h in negatives] == ["Who wrote Macbeth?"]
    assert bank.search("anything", k=0) == []


def test_vectors_are_read_back_not_reembedded(tmp_path: Path) -> None:
    class Counting(HashEmbeddings):
        calls = 0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            Counting.calls += len(texts)
            return super().embed_documents(texts)

    bank = CaseBank(path=tmp_path, embeddings=Counting(), dedup_threshold=None)
    ids = bank.add_cases([make_case(f"task {w}") for w in ("alpha", "beta", "gamma")])
    before = Counting.calls
    got = bank.vectors(list(reversed(ids)))
    all_ids, matrix = bank.all_vectors()
    sl_ids, scores, sl_vecs = bank.nearest_vectors(got[0], 2)
    assert Counting.calls == before
    assert got.dtype == np.float32 and got.shape == (3, 64)
    expected = np.asarray(HashEmbeddings().embed_documents(["task gamma"]), dtype=np.float32)[0]
    np.testing.assert_allclose(got[0], expected, atol=1e-6)
    assert sorted(all_ids) == sorted(ids) and matrix.shape == (3, 64)
    assert matrix.dtype == np.float32
    assert sl_ids[0] == ids[2] and scores.shape == (2,) and sl_vecs.shape == (2, 64)
    np.testing.assert_allclose(sl_vecs[0], got[0], atol=1e-6)
    only_ids, only_scores = bank.nearest_ids(got[0], 2)  # the same search, vectors left out
    assert only_ids == sl_ids and np.allclose(only_scores, scores)
    assert bank.all_ids() == all_ids
    with pytest.raises(KeyError):
        bank.vectors(["missing"])


def test_all_vectors_by_namespace_and_empty(bank: CaseBank) -> None:
    ids, matrix = bank.all_vectors()
    assert ids == [] and matrix.shape[0] == 0
    bank.add_cases([make_case("a b c", namespace="x"), make_case("d e f", namespace="y")])
    ids, matrix = bank.all_vectors(namespace="x")
    assert len(ids) == 1 and matrix.shape == (1, 64)


def test_reopen_keeps_cases_and_refuses_other_model(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings())
    cid = bank.add("persisted task", PLAN, reward=1.0)
    again = CaseBank(path=tmp_path, embeddings=HashEmbeddings())
    assert again.get(cid) is not None and again.embedding_model == "test-hash-64"
    with pytest.raises(EmbeddingModelMismatch) as err:
        CaseBank(path=tmp_path, embeddings=HashEmbeddings(dim=32))
    assert "test-hash-64" in str(err.value) and "test-hash-32" in str(err.value)


def test_dimension_mismatch_under_same_name_is_refused(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path, embeddings=HashEmbeddings(dim=64, model_name="same"))
    bank.add("first task", PLAN, reward=1.0)
    other = CaseBank(path=tmp_path, embeddings=HashEmbeddings(dim=32, model_name="same"))
    with pytest.raises(ValueError, match="size 32"):
        other.add("second task", PLAN, reward=1.0)
    assert other.count() == 1


def test_from_settings_uses_home_and_overrides(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", collection="cases_x", dedup_threshold=0.9)
    bank = CaseBank.from_settings(settings, embeddings=HashEmbeddings())
    bank.add("a task", PLAN, reward=1.0)
    assert (tmp_path / "home" / "chroma").is_dir()
    assert bank.dedup_threshold == 0.9
    other = CaseBank.from_settings(settings, path=tmp_path / "else", embeddings=HashEmbeddings())
    assert other.count() == 0


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path"):
        CaseBank(embeddings=HashEmbeddings())
    with pytest.raises(ValueError, match="dedup_threshold"):
        CaseBank(path=tmp_path, embeddings=HashEmbeddings(), dedup_threshold=1.5)


def test_count_usage_adds_a_run_in_one_call_and_names_the_ids_gone(bank: CaseBank) -> None:
    a, b = bank.add_cases([make_case("alpha river"), make_case("beta lake")])
    bank.update(a, retrieved=1)  # the per-case path and the batched one share running totals
    assert bank.count_usage([a, b, "gone", a], helped={a}) == ["gone"]
    assert bank.count_usage([b], helped=set()) == []
    first, second = bank.get(a), bank.get(b)
    assert first is not None and second is not None
    assert (first.times_retrieved, first.times_helpful) == (2, 1)
    assert (second.times_retrieved, second.times_helpful) == (2, 0)
    assert bank.count_usage([], helped=set()) == []
