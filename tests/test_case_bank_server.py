"""The same CaseBank against a real Chroma server (`chroma run`) on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.case_bank import CaseBank, EmbeddingModelMismatch
from memento.settings import Settings
from memento.testing import HashEmbeddings, make_case

pytestmark = [pytest.mark.integration, pytest.mark.services]
PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}


def test_server_bank_full_cycle(chroma_url: str) -> None:
    name = f"cycle_{uuid.uuid4().hex[:8]}"  # a rerun against the same server starts empty too
    bank = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    cid = bank.add("Who wrote the play Hamlet?", PLAN, reward=1.0, case_id="t1")
    assert bank.add("who wrote the play hamlet", PLAN, reward=0.0) == cid  # near-duplicate
    bank.add_cases([make_case(f"other task {w}") for w in ("a", "b", "c")], dedup=False)
    assert bank.count() == 4
    hits = bank.search("Who wrote the play Hamlet?", k=2)
    assert hits[0].case.id == "t1" and hits[0].case.observations == 2
    ids, vectors = bank.all_vectors()
    assert len(ids) == 4 and vectors.shape == (4, 64)
    assert bank.update("t1", retrieved=1).times_retrieved == 1
    assert bank.delete(["t1"]) == 1 and bank.count() == 3
    reopened = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    assert reopened.count() == 3
    with pytest.raises(EmbeddingModelMismatch):
        CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings(dim=16))


def test_settings_url_selects_server(chroma_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "unused", chroma_url=chroma_url, collection="by_settings")
    bank = CaseBank.from_settings(settings, embeddings=HashEmbeddings())
    bank.add("a task on the server", PLAN, reward=1.0)
    assert bank.location == chroma_url
    assert not (tmp_path / "unused").exists()


def test_cli_against_server(
    chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMENTO_CHROMA_URL", chroma_url)
    monkeypatch.setenv("MEMENTO_COLLECTION", "cli_cases")
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    path = tmp_path / "memory.jsonl"
    row = {
        "case": "What is the capital of Peru?",
        "plan": json.dumps(PLAN),
        "case_label": "negative",
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["cases", "import", str(path)]).exit_code == 0
    stats = json.loads(runner.invoke(app, ["cases", "stats", "--json"]).stdout)
    assert (stats["count"], stats["negative"]) == (1, 1)


def test_relabel_keeps_other_writers_tallies(chroma_url: str) -> None:
    name = f"relabel_{uuid.uuid4().hex[:8]}"
    bank = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    bank.add("Who discovered penicillin?", PLAN, reward=1.0, case_id="p")
    # Another process folded two successful runs in: its own tally keys.
    other = {"tally.other.observations": 2, "tally.other.reward_sum": 2.0}
    bank.collection.update(ids=["p"], metadatas=[other])
    case = bank.get("p")
    assert case is not None and (case.observations, case.reward) == (3, 1.0)
    relabelled = bank.update("p", reward=0.0)
    assert (relabelled.reward, relabelled.label, relabelled.observations) == (0.0, "negative", 3)
    # The other process folds one more failed run in after the relabel: counted after it.
    bank.collection.update(ids=["p"], metadatas=[{"tally.other.observations": 3}])
    case = bank.get("p")
    assert case is not None and (case.observations, case.reward) == (4, 0.0)


def test_failed_fold_takes_its_tally_back(chroma_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"rollback_{uuid.uuid4().hex[:8]}"
    bank = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    bank.add("Who discovered penicillin?", PLAN, reward=1.0, case_id="p")
    bank.update("p", retrieved=2)

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise ConnectionError("server went away")

    monkeypatch.setattr("memento.memory.writer.add_aliases", broken)
    with pytest.raises(ConnectionError):
        bank.add("who discovered penicillin", PLAN, reward=0.0, case_id="q")
    monkeypatch.undo()
    case = bank.get("p")
    assert case is not None
    assert (case.observations, case.reward, case.label, case.times_retrieved) == (
        1, 1.0, "positive", 2,
    )  # fmt: skip
    assert bank.resolve("q") is None
    assert bank.add("who discovered penicillin", PLAN, reward=0.0, case_id="q") == "p"
    case = bank.get("p")
    assert case is not None and (case.observations, case.reward) == (2, 0.5)


def test_id_stored_by_another_process_mid_write(
    chroma_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made deterministic: another process adds the same id after we looked."""
    from memento.memory import writer

    name = f"race_{uuid.uuid4().hex[:8]}"
    bank = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    other = CaseBank(url=chroma_url, collection=name, embeddings=HashEmbeddings())
    looked = writer._nearest_in_store

    def racing(*args: object, **kwargs: object) -> object:
        found = looked(*args, **kwargs)  # type: ignore[arg-type]
        other.add_cases([make_case("Who discovered penicillin?", case_id="x")], dedup=False)
        return found

    monkeypatch.setattr(writer, "_nearest_in_store", racing)
    mine = [
        make_case("Who discovered penicillin?", case_id="x", label="negative"),
        make_case("who discovered penicillin", case_id="y", label="negative"),
    ]
    report = bank.add_cases_report(mine)
    monkeypatch.undo()
    assert report.ids == ["x", "x"] and (report.added, report.merged) == (0, 1)
    (case,) = bank.list()
    # The other process's write of x stands (ours was the same write); our batch's fold of y
    # into x still counts.
    assert (case.id, case.observations, case.reward) == ("x", 2, 0.5)
    assert bank.resolve("y") == "x"
