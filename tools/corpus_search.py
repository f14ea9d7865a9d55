"""Local corpus search: vector search, BM25, or both fused with reciprocal-rank fusion (RRF).

The BM25 index is built in memory from the collection's chunks and rebuilt only when the
collection's `generation` (bumped by every indexing run that changed something) moves on.
Hybrid is the default because it measured better than either alone on the project's benchmark
(`benchmarks/corpus_retrieval.py`): BM25 finds exact identifiers that MiniLM misses, vectors find
paraphrases BM25 misses. The fusion constant matters: the textbook k=60 let chunks ranked
middling by both lists outrank a chunk ranked first by one; k=2 (chosen on a separate dev corpus)
keeps a clear first place. `retrieval="vector"` or `"bm25"` turns fusion off.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from memento.memory.collection import query as query_collection
from memento.tools.config import CorpusConfig, truncate
from memento.tools.corpus_index import corpus_client, open_collection

RRF_K = 60
_TOKEN = re.compile(r"\w+", re.UNICODE)
Mode = Literal["hybrid", "vector", "bm25"]


class CorpusSearchArgs(BaseModel):
    """Arguments of the corpus_search tool."""

    query: str = Field(description="What to look for in the local documents.", min_length=1)
    k: int | None = Field(default=None, ge=1, le=50, description="How many chunks to return.")


@dataclass
class Hit:
    """One retrieved chunk."""

    id: str
    text: str
    source: str
    start: int
    end: int
    page: int
    score: float


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens for BM25."""
    return _TOKEN.findall(text.lower())


class CorpusSearcher:
    """Searches the corpus collection; keeps a BM25 index in step with it."""

    def __init__(self, config: CorpusConfig, embeddings: Embeddings | None = None) -> None:
        """Open the collection named in `config`."""
        from memento.memory.embeddings import default_embeddings, embedding_model_id

        self.config = config
        self.embeddings = embeddings or default_embeddings()
        self.collection = open_collection(config, embedding_model_id(self.embeddings))
        self._bm25: Any = None
        self._bm25_rows: list[tuple[str, str, dict[str, Any]]] = []
        self._generation: str | None = None
        self._lock = threading.Lock()

    def _bm25_index(self) -> tuple[Any, list[tuple[str, str, dict[str, Any]]]]:
        from rank_bm25 import BM25Okapi

        col = self.collection
        fresh = corpus_client(self.config).get_collection(col.name, embedding_function=None)
        generation = str((fresh.metadata or {}).get("generation", "0"))
        with self._lock:
            if self._bm25 is None or generation != self._generation:
                got = col.get(include=["documents", "metadatas"])
                rows = list(
                    zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)
                )
                self._bm25_rows = [(i, d, dict(m)) for i, d, m in rows]
                corpus = [tokenize(d) for _, d, _ in self._bm25_rows]
                self._bm25 = BM25Okapi(corpus) if corpus else None
                self._generation = generation
            return self._bm25, self._bm25_rows

    def _vector(self, query: str, n: int) -> list[Hit]:
        got = query_collection(
            self.collection,
            query_embeddings=[self.embeddings.embed_query(query)],
            n_results=n,
            include=["documents", "metadatas", "distances"],
        )
        rows = zip(
            got["ids"][0],
            got["documents"][0],
            got["metadatas"][0],
            got["distances"][0],
            strict=True,
        )
        return [_hit(i, d, m, 1.0 - float(dist)) for i, d, m, dist in rows]

    def _keyword(self, query: str, n: int) -> list[Hit]:
        bm25, rows = self._bm25_index()
        tokens = tokenize(query)
        if bm25 is None or not tokens:
            return []
        scores = bm25.get_scores(tokens)
        order = sorted(range(len(rows)), key=lambda i: -scores[i])[:n]
        return [_hit(*rows[i], float(scores[i])) for i in order if scores[i] > 0]

    def search(self, query: str, k: int | None = None, mode: Mode | None = None) -> list[Hit]:
        """The best `k` chunks for `query` by `mode` (the configured retrieval by default)."""
        k = k or self.config.top_k
        mode = mode or self.config.retrieval
        count = self.collection.count()
        if count == 0:
            return []
        depth = min(count, max(4 * k, 20))
        if mode == "vector":
            return self._vector(query, min(k, count))
        if mode == "bm25":
            return self._keyword(query, k)
        rankings = [self._vector(query, depth), self._keyword(query, depth)]
        return rrf_fuse(rankings, k, self.config.rrf_k)


def _hit(id_: str, text: str, meta: Any, score: float) -> Hit:
    meta = dict(meta or {})
    return Hit(
        id=id_,
        text=text,
        source=str(meta.get("source", "?")),
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        page=int(meta.get("page", 0)),
        score=score,
    )


def rrf_fuse(rankings: list[list[Hit]], k: int, rrf_k: float = RRF_K) -> list[Hit]:
    """Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (rrf_k + rank)."""
    fused: dict[str, Hit] = {}
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            fused.setdefault(hit.id, hit)
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
    order = sorted(scores, key=lambda i: -scores[i])[:k]
    out = []
    for i in order:
        hit = fused[i]
        out.append(Hit(hit.id, hit.text, hit.source, hit.start, hit.end, hit.page, scores[i]))
    return out


def format_hits(hits: list[Hit], limit: int) -> str:
    """Hits as numbered blocks with their source, page and offsets."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        where = f"page {hit.page}, " if hit.page else ""
        head = f"[{n}] {hit.source} ({where}chars {hit.start}-{hit.end}, score {hit.score:.3f})"
        blocks.append(f"{head}\n{hit.text.strip()}")
    return truncate("\n\n".join(blocks), limit)


_searchers: dict[tuple[str, int], CorpusSearcher] = {}
_searchers_lock = threading.Lock()


def get_searcher(config: CorpusConfig, embeddings: Embeddings | None = None) -> CorpusSearcher:
    """One cached searcher per store, collection and settings (its BM25 index is reused)."""
    key = (config.model_dump_json(), id(embeddings))
    with _searchers_lock:
        if key not in _searchers:
            _searchers[key] = CorpusSearcher(config, embeddings)
        return _searchers[key]


def build_corpus_search(config: CorpusConfig, embeddings: Embeddings | None = None) -> BaseTool:
    """The `corpus_search` tool (`embeddings` must be the model the corpus was indexed with)."""

    def _run(query: str, k: int | None = None) -> str:
        try:
            hits = get_searcher(config, embeddings).search(query, k)
        except Exception as exc:  # noqa: BLE001 - a store failure is reported, not raised
            return f"Error: corpus search failed: {type(exc).__name__}: {exc}"
        if not hits:
            return (
                "No results: the corpus is empty or nothing matched "
                "(index documents with `memento corpus index PATH`)."
            )
        return format_hits(hits, config.max_result_chars)

    return StructuredTool.from_function(
        func=_run,
        name="corpus_search",
        description=(
            "Search the local document corpus (offline). Returns the best passages with their "
            "source file, page and character offsets."
        ),
        args_schema=CorpusSearchArgs,
    )
