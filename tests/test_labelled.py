"""Cases read with their labels: embedded once, stored beside the bank, dropped on relabel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memento.memory.case_bank import CaseBank
from memento.memory.labelled import (
    SUFFIX,
    earlier_id,
    fill_labelled,
    forget_labelled,
    labelled_text,
    labelled_vectors,
)
from memento.memory.q.network import QNetwork, seed_everything
from memento.memory.q.selector import QSelector
from memento.testing import HashEmbeddings, make_case
from tests.support.q import DIM, toy_config


class CountingEmbeddings(HashEmbeddings):
    """Hashed embeddings that remember every document text they embedded."""

    def __init__(self) -> None:
        super().__init__(DIM)
        self.seen: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed and note the texts."""
        self.seen.extend(texts)
        return super().embed_documents(texts)


@pytest.fixture
def bank(tmp_path: Path) -> CaseBank:
    return CaseBank(path=tmp_path / "chroma", embeddings=CountingEmbeddings(), dedup_threshold=0.95)


def _reading(bank: CaseBank, task: str, label: str) -> np.ndarray:
    return bank.embed_texts([labelled_text(task, label)])[0]


def test_read_once_then_served_from_the_side_collection(bank: CaseBank) -> None:
    emb: CountingEmbeddings = bank._embeddings  # type: ignore[assignment]
    a = bank.add_cases([make_case("alpha river question")])[0]
    b = bank.add_cases([make_case("beta desert question", label="negative")])[0]
    emb.seen.clear()
    got = labelled_vectors(bank, [b, a, b])
    assert sorted(emb.seen) == sorted(
        [
            labelled_text("alpha river question", "positive"),
            labelled_text("beta desert question", "negative"),
        ]
    )
    assert np.allclose(got[0], got[2]) and np.allclose(
        got[1], _reading(bank, "alpha river question", "positive")
    )
    assert not np.allclose(got[1], bank.vectors([a])[0])  # not the task's own vector
    emb.seen.clear()
    again = labelled_vectors(bank, [a, b])
    assert emb.seen == [] and np.allclose(again, got[[1, 0]])
    assert bank.side_collection(SUFFIX).count() == 2
    assert labelled_vectors(bank, []).shape == (0, DIM)


def test_unknown_ids_are_named(bank: CaseBank) -> None:
    a = bank.add_cases([make_case("alpha river question")])[0]
    with pytest.raises(KeyError, match="not in the bank.*nope"):
        labelled_vectors(bank, [a, "nope"])


def test_a_new_label_is_read_again_an_unchanged_one_is_not(bank: CaseBank) -> None:
    task = "alpha river question"
    a = bank.add_cases([make_case(task, label="negative")])[0]
    old = labelled_vectors(bank, [a])[0]
    bank.update(a, retrieved=1)  # counters only: the reading stays
    assert bank.side_collection(SUFFIX).count() == 1
    bank.update(a, reward=1.0)  # now positive
    assert bank.side_collection(SUFFIX).count() == 0
    new = labelled_vectors(bank, [a])[0]
    assert np.allclose(new, _reading(bank, task, "positive")) and not np.allclose(new, old)


def test_a_fold_that_relabels_drops_the_reading(bank: CaseBank) -> None:
    task = "alpha river question about the source"
    a = bank.add_cases([make_case(task, label="negative")])[0]
    labelled_vectors(bank, [a])
    twin = make_case(task, label="negative", steps=("Search it.",))
    assert bank.add_cases([twin]) == [a]  # folded, still negative: kept
    assert bank.side_collection(SUFFIX).count() == 1
    better = make_case(task, label="positive", steps=("Read the atlas.",))
    assert bank.add_cases([better]) == [a]  # folded, now positive: dropped
    assert bank.get(a).label == "positive"  # type: ignore[union-attr]
    assert bank.side_collection(SUFFIX).count() == 0
    assert np.allclose(labelled_vectors(bank, [a])[0], _reading(bank, task, "positive"))


def test_delete_drops_the_reading_and_fill_reads_only_the_unread(bank: CaseBank) -> None:
    emb: CountingEmbeddings = bank._embeddings  # type: ignore[assignment]
    ids = bank.add_cases([make_case(f"topic {w} question") for w in ("one", "two", "three")])
    labelled_vectors(bank, ids[:1])
    bank.delete(ids[:1])
    assert bank.side_collection(SUFFIX).count() == 0
    labelled_vectors(bank, ids[1:2])
    emb.seen.clear()
    assert fill_labelled(bank) == 1 and emb.seen == [
        labelled_text("topic three question", "positive")
    ]
    assert fill_labelled(bank) == 0
    assert fill_labelled(bank, refresh=True) == 2
    forget_labelled(bank, ids)
    assert bank.side_collection(SUFFIX).count() == 0


def test_selector_ranks_by_what_the_network_reads(tmp_path: Path) -> None:
    """An untrained residual network ranks by cosine to the case as it reads it."""
    dim = 256
    bank = CaseBank(path=tmp_path / "c", embeddings=HashEmbeddings(dim), dedup_threshold=None)
    bank.add_cases([make_case("river lake question", label="negative")])
    bank.add_cases([make_case("mountain question", label="positive")])
    query = "lake label positive"  # shares "lake" with the negative task, its label with the other

    def labels(side: str, exact_below: int) -> list[str]:
        seed_everything(0)
        net = QNetwork(toy_config(form="residual", case_side=side, dim=dim))
        sel = QSelector(bank, network=net, exact_below=exact_below)
        return [s.case.label for s in sel.select(query, k=2)]

    for exact_below in (10**6, 0):  # exact and shortlist alike
        assert labels("task", exact_below) == ["negative", "positive"]
        assert labels("label", exact_below) == ["positive", "negative"]
        sel = QSelector(bank, network=QNetwork(toy_config(dim=dim)), exact_below=exact_below)
        ids, vectors, _ = sel.candidates(query, None, side="label")
        assert np.allclose(vectors, labelled_vectors(bank, ids))


def test_a_bank_never_read_with_labels_gets_no_side_collection(bank: CaseBank) -> None:
    a, b = bank.add_cases([make_case("alpha river question", label="negative")]) + bank.add_cases(
        [make_case("beta desert question")]
    )
    bank.update(a, reward=1.0)  # a relabel and a delete: nothing to drop, nothing created
    bank.delete([b])
    names = {c.name for c in bank.client.list_collections()}
    assert f"{bank.collection.name}{SUFFIX}" not in names
    labelled_vectors(bank, [a])
    assert f"{bank.collection.name}{SUFFIX}" in {c.name for c in bank.client.list_collections()}


def test_a_label_side_selection_reads_no_task_vectors(
    bank: CaseBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search gives ids only: the network reads the labelled readings, not task vectors."""
    bank.add_cases([make_case(f"topic {w} question") for w in ("one", "two", "three")])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("task vectors read for a label-side network")

    for name in ("all_vectors", "nearest_vectors", "vectors"):
        monkeypatch.setattr(bank, name, refuse)
    net = QNetwork(toy_config(case_side="label"))
    for exact_below in (10**6, 0):
        picked = QSelector(bank, network=net, exact_below=exact_below).select("topic two", k=2)
        assert len(picked) == 2


def test_training_reads_a_try_with_the_label_its_case_was_shown_with(bank: CaseBank) -> None:
    """A fold relabels a case after a try: that try still trains on the reading shown."""
    from memento.memory.q.config import training_rows
    from memento.memory.q.replay import Transition

    a = bank.add_cases([make_case("alpha river question", label="negative", reward=0.0)])[0]
    b = bank.add_cases([make_case("beta desert question")])[0]
    vec = bank.embed_query("alpha river")

    def run(labels: list[str] | None) -> Transition:
        return Transition.of_run("alpha river", vec, [a, b], None, 1.0, namespace="default",
                                 key=None, shown_labels=labels)  # fmt: skip

    before = labelled_vectors(bank, [a, b])
    bank.update(a, reward=1.0, label="positive")  # the fold: read "positive" from now on
    config = toy_config(case_side="label")
    emb: CountingEmbeddings = bank._embeddings  # type: ignore[assignment]
    emb.seen.clear()
    _, cases, _, _ = training_rows(bank, [run(["negative", "positive"])], 0.5, config)
    assert np.allclose(cases.numpy(), before)  # both as shown; a's old reading embedded again
    assert emb.seen == [labelled_text("alpha river question", "negative")]
    emb.seen.clear()
    _, again, _, _ = training_rows(bank, [run(["negative", "positive"])], 0.5, config)
    assert emb.seen == [] and np.allclose(again.numpy(), before)  # kept under earlier_id
    assert np.allclose(cases[0].numpy(), _reading(bank, "alpha river question", "negative"))
    _, now, _, _ = training_rows(bank, [run(None)], 0.5, config)  # a log kept before labels
    assert np.allclose(now[0].numpy(), _reading(bank, "alpha river question", "positive"))
    assert np.allclose(now[1].numpy(), before[1])
    # the old reading is not stored: the side collection keeps each case's reading now
    assert np.allclose(labelled_vectors(bank, [a])[0], now[0].numpy())
    bank.delete([b])  # a case gone leaves its row out
    _, left, _, _ = training_rows(bank, [run(["negative", "positive"])], 0.5, config)
    assert left.shape[0] == 1 and np.allclose(left[0].numpy(), before[0])
    task_side = toy_config(case_side="task")  # the task side reads no labels
    _, plain, _, _ = training_rows(bank, [run(["negative", "positive"])], 0.5, task_side)
    assert np.allclose(plain[0].numpy(), bank.vectors([a])[0])
    side = bank.side_collection(SUFFIX)
    assert side.get(ids=[earlier_id(a, "negative")])["ids"]
    bank.delete([a])  # a deleted case loses its earlier readings too
    assert side.count() == 0
