"""Memory bundles: save/load round trip with vectors, Q checkpoint and replay; replace/merge."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.bundle import BundleError, load_bundle, read_bundle, save_bundle
from memento.memory.case_bank import CaseBank
from memento.memory.labelled import keep_readings, labelled_vectors
from memento.memory.q.checkpoint import load_checkpoint
from memento.memory.q.learner import QLearner
from memento.testing import HashEmbeddings, make_case
from tests.support.q import DIM, toy_bank, toy_config


def _empty_bank(path: Path) -> CaseBank:
    return CaseBank(path=path / "chroma", embeddings=HashEmbeddings(DIM), dedup_threshold=None)


def _filled(tmp_path: Path) -> tuple[CaseBank, Path]:
    bank, good, bad = toy_bank(tmp_path / "src")
    learner = QLearner(bank, tmp_path / "src" / "q", toy_config())
    learner.record("a task", [good[0], bad[0]], [good[0]], 1.0, key="k1")
    learner.record("another task", [bad[1]], None, 0.0, key="k2")
    return bank, tmp_path / "src" / "q"


def test_round_trip_into_an_empty_store(tmp_path: Path) -> None:
    bank, q_dir = _filled(tmp_path)
    manifest = save_bundle(tmp_path / "m.zip", bank, q_dir, config={"k": 4})
    assert manifest["counts"] == {"cases": 12, "transitions": 2, "q_checkpoint": 1}
    target = _empty_bank(tmp_path / "dst")
    summary = load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q")
    assert summary["cases_added"] == 12 and summary["transitions"] == 2 and summary["q_checkpoint"]
    src_ids, src_vecs = bank.all_vectors()
    dst_ids, dst_vecs = target.all_vectors()
    order = [dst_ids.index(i) for i in src_ids]
    assert np.allclose(src_vecs, dst_vecs[order])
    a, b = bank.get_many(src_ids[:3]), target.get_many(src_ids[:3])
    assert [c.model_dump() for c in a] == [c.model_dump() for c in b]
    src_meta = load_checkpoint(q_dir).meta
    assert load_checkpoint(tmp_path / "dst" / "q").meta.version == src_meta.version
    again = QLearner(target, tmp_path / "dst" / "q", toy_config())
    assert [t.key for t in again.replay.all()] == ["k1", "k2"]


class CountingEmbeddings(HashEmbeddings):
    """Hashed embeddings that count the texts they embed."""

    def __init__(self) -> None:
        super().__init__(DIM)
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed and count."""
        self.texts += len(texts)
        return super().embed_documents(texts)


def test_readings_with_labels_travel_and_are_not_embedded_again(tmp_path: Path) -> None:
    bank, q_dir = _filled(tmp_path)
    ids = bank.all_ids()
    read = labelled_vectors(bank, ids)
    save_bundle(tmp_path / "m.zip", bank, q_dir)
    counting = CountingEmbeddings()
    target = CaseBank(path=tmp_path / "dst" / "chroma", embeddings=counting, dedup_threshold=None)
    summary = load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q")
    assert summary["readings"] == 12 and counting.texts == 0  # cases and readings as stored
    assert np.allclose(labelled_vectors(target, ids), read) and counting.texts == 0
    case = target.get(ids[0])
    assert case is not None and case.label == "positive"
    other = {ids[0]: ("negative", read[0])}  # read with a label the case no longer holds
    assert keep_readings(target, other) == 0


def test_non_empty_store_needs_a_mode(tmp_path: Path) -> None:
    bank, q_dir = _filled(tmp_path)
    save_bundle(tmp_path / "m.zip", bank, q_dir)
    target = _empty_bank(tmp_path / "dst")
    extra = target.add_cases([make_case("a local case about gamma")])
    with pytest.raises(BundleError, match="--replace or --merge"):
        load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q")
    assert target.count() == 1
    merged = load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q", mode="merge")
    assert merged["cases_added"] == 12 and target.count() == 13
    replaced = load_bundle(tmp_path / "m.zip", target, tmp_path / "dst" / "q", mode="replace")
    assert replaced["cases_added"] == 12 and target.count() == 12
    assert target.get(extra[0]) is None


def test_bad_bundles_are_refused_without_writing(tmp_path: Path) -> None:
    bank, q_dir = _filled(tmp_path)
    good = tmp_path / "m.zip"
    save_bundle(good, bank, q_dir)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="not a readable"):
        read_bundle(tmp_path / "junk.zip")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "cases.jsonl":
                data = data + b'\n{"id": "x"}'
            dst.writestr(name, data)
    target = _empty_bank(tmp_path / "dst")
    with pytest.raises(BundleError, match=r"cases\.jsonl:13"):
        load_bundle(broken, target, tmp_path / "dst" / "q")
    assert target.count() == 0
    other = CaseBank(
        path=tmp_path / "o", embeddings=HashEmbeddings(DIM, "other"), dedup_threshold=None
    )
    with pytest.raises(BundleError, match="other"):
        load_bundle(good, other, tmp_path / "o" / "q")
    odd = tmp_path / "odd.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(odd, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "labelled.jsonl":
                data = b'{"id": "x", "label": "positive"}'
            dst.writestr(name, data)
    with pytest.raises(BundleError, match=r"labelled\.jsonl:1.*vector"):
        load_bundle(odd, target, tmp_path / "dst" / "q")
    assert target.count() == 0
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(newer, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                data = json.dumps({**json.loads(data), "version": 99}).encode()
            dst.writestr(name, data)
    with pytest.raises(BundleError, match="version 99"):
        read_bundle(newer)


def test_cli_save_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memento.memory import case_bank

    monkeypatch.setattr(case_bank, "default_embeddings", lambda: HashEmbeddings(DIM))
    runner = CliRunner()
    src = tmp_path / "h1"
    bank = CaseBank(path=src / "chroma", embeddings=HashEmbeddings(DIM), dedup_threshold=None)
    bank.add_cases([make_case("a case about delta"), make_case("a case about epsilon")])
    out = runner.invoke(app, ["memory", "save", str(tmp_path / "b.zip"), "--home", str(src)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["cases"] == 2
    dst = tmp_path / "h2"
    loaded = runner.invoke(app, ["memory", "load", str(tmp_path / "b.zip"), "--home", str(dst)])
    assert loaded.exit_code == 0, loaded.output
    again = runner.invoke(app, ["memory", "load", str(tmp_path / "b.zip"), "--home", str(dst)])
    assert again.exit_code == 2 and "--replace or --merge" in again.output
    both = runner.invoke(
        app, ["memory", "load", str(tmp_path / "b.zip"), "--home", str(dst), "--replace", "--merge"]
    )
    assert both.exit_code == 2
