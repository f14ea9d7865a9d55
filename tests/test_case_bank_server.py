"""The same CaseBank against a real Chroma server (`chroma run`) on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.case_bank import CaseBank, EmbeddingModelMismatch
from memento.settings import Settings
from tests.fakes import HashEmbeddings, make_case

pytestmark = pytest.mark.integration
PLAN = {"plan": [{"id": 1, "description": "Search for it."}]}


def test_server_bank_full_cycle(chroma_url: str) -> None:
    bank = CaseBank(url=chroma_url, collection="cycle", embeddings=HashEmbeddings())
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
    reopened = CaseBank(url=chroma_url, collection="cycle", embeddings=HashEmbeddings())
    assert reopened.count() == 3
    with pytest.raises(EmbeddingModelMismatch):
        CaseBank(url=chroma_url, collection="cycle", embeddings=HashEmbeddings(dim=16))


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
