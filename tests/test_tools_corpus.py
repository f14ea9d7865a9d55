"""Local corpus: chunking with offsets, incremental indexing, vector/BM25/hybrid search, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.store import forget_clients
from memento.tools.config import CorpusConfig
from memento.tools.corpus_index import CorpusIndexer, chunk_spans
from memento.tools.corpus_search import CorpusSearcher, Hit, build_corpus_search, rrf_fuse
from tests.support.pdfgen import write_pdf

pytestmark = pytest.mark.integration


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    bridge = "The Velmora bridge was built in 1873 by the engineer Tasko Brunel. " * 3
    (root / "bridge.txt").write_text(bridge + "\n\nIt crosses the river Oss near the old mill.")
    (root / "bread.md").write_text("# Baking\n\nBread needs flour, water, yeast and salt.")
    (root / "oven.html").write_text(
        "<html><body><h1>Ovens</h1>"
        "<p>The oven model ZX-4412 heats to 300 degrees.</p></body></html>"
    )
    write_pdf(root / "manual.pdf", ["Intro page", "Chapter on the Quarnel valve and its pressure"])
    (root / "skip.bin").write_bytes(b"\x00\x01")
    hidden = root / ".git"
    hidden.mkdir()
    (hidden / "x.txt").write_text("hidden")
    return root


@pytest.fixture
def cfg(tmp_path: Path) -> CorpusConfig:
    forget_clients()
    return CorpusConfig(path=tmp_path / "store", chunk_chars=200, overlap_chars=40)


def test_chunk_spans_cover_text_with_overlap() -> None:
    text = " ".join(f"word{i}." for i in range(400))
    spans = chunk_spans(text, 200, 40)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start < end  # overlapping
        assert text[start - 1] == " "  # starts on a word boundary
    assert all(end - start <= 200 for start, end in spans)


def test_index_is_incremental(docs: Path, cfg: CorpusConfig) -> None:
    indexer = CorpusIndexer(cfg)
    first = indexer.index([docs])
    assert first.indexed == 4 and first.errors == [] and first.chunks >= 4
    second = indexer.index([docs])
    assert second.indexed == 0 and second.unchanged == 4 and second.chunks == 0
    (docs / "bread.md").write_text("# Baking\n\nPizza dough rests overnight.")
    (docs / "oven.html").unlink()
    third = indexer.index([docs])
    assert third.indexed == 1 and third.unchanged == 2 and third.removed == 1
    sources = {m["source"] for m in indexer.collection.get(include=["metadatas"])["metadatas"]}
    assert str((docs / "oven.html").resolve()) not in sources
    texts = indexer.collection.get(include=["documents"])["documents"]
    assert not any("yeast" in t for t in texts) and any("Pizza" in t for t in texts)


def test_touched_but_unchanged_file_is_skipped(docs: Path, cfg: CorpusConfig) -> None:
    indexer = CorpusIndexer(cfg)
    indexer.index([docs])
    path = docs / "bridge.txt"
    path.write_text(path.read_text())  # new mtime, same content
    assert indexer.index([docs]).indexed == 0


def test_chunks_carry_source_offsets_and_pages(docs: Path, cfg: CorpusConfig) -> None:
    CorpusIndexer(cfg).index([docs])
    hits = CorpusSearcher(cfg).search("Quarnel valve pressure", 3)
    top = hits[0]
    assert top.source.endswith("manual.pdf") and top.page == 2
    text = (docs / "bridge.txt").read_text()
    for hit in CorpusSearcher(cfg).search("Velmora bridge engineer", 5, "vector"):
        if hit.source.endswith("bridge.txt"):
            assert text[hit.start : hit.end] == hit.text


@pytest.mark.parametrize("mode", ["hybrid", "vector", "bm25"])
def test_search_modes_find_the_answer(docs: Path, cfg: CorpusConfig, mode: str) -> None:
    CorpusIndexer(cfg).index([docs])
    hits = CorpusSearcher(cfg).search("oven model ZX-4412", 2, mode)  # type: ignore[arg-type]
    assert hits and hits[0].source.endswith("oven.html")


def test_bm25_follows_reindexing(docs: Path, cfg: CorpusConfig) -> None:
    indexer = CorpusIndexer(cfg)
    indexer.index([docs])
    searcher = CorpusSearcher(cfg)
    assert not searcher.search("zebra", 3, "bm25")
    (docs / "zoo.txt").write_text("A zebra lives in the zoo.")
    indexer.index([docs])
    assert searcher.search("zebra", 3, "bm25")[0].source.endswith("zoo.txt")


def test_bad_files_are_reported_not_fatal(docs: Path, cfg: CorpusConfig) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = CorpusIndexer(cfg).index([docs, docs / "missing"])
    assert report.indexed >= 4
    reasons = dict(report.errors)
    assert any(p.endswith("broken.pdf") for p in reasons)
    assert str(docs / "missing") in reasons


def test_rrf_fuse_rewards_agreement() -> None:
    def hit(i: str) -> Hit:
        return Hit(i, i, "s", 0, 1, 0, 0.0)

    fused = rrf_fuse([[hit("a"), hit("b"), hit("c")], [hit("d"), hit("b"), hit("e")]], 3)
    assert fused[0].id == "b"
    assert {h.id for h in fused[1:]} == {"a", "d"}


def test_tool_answers_with_sources(docs: Path, cfg: CorpusConfig) -> None:
    tool = build_corpus_search(cfg)
    assert "No results" in tool.invoke({"query": "anything"})
    CorpusIndexer(cfg).index([docs])
    out = tool.invoke({"query": "what does bread need", "k": 2})
    assert "bread.md" in out and "chars" in out


def test_cli_index_and_search(docs: Path, tmp_path: Path) -> None:
    forget_clients()
    store = str(tmp_path / "cli-store")
    runner = CliRunner()
    first = runner.invoke(app, ["corpus", "index", str(docs), "--store", store])
    assert first.exit_code == 0, first.output
    assert "indexed 4 files" in first.output
    again = runner.invoke(app, ["corpus", "index", str(docs), "--store", store])
    assert "indexed 0 files" in again.output and "unchanged 4" in again.output
    found = runner.invoke(app, ["corpus", "search", "Velmora bridge", "--store", store, "-k", "1"])
    assert found.exit_code == 0 and "bridge.txt" in found.output
    bad = runner.invoke(app, ["corpus", "search", "x", "--store", store, "--mode", "fuzzy"])
    assert bad.exit_code == 2
