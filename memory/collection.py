"""Chroma plumbing for the Case Bank: opening the collection safely, paging, batching.

`open_collection` creates or opens a cosine-space collection without Chroma's own embedding
function, records the embedding model that builds it and refuses to open it with another.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from memento.settings import Settings


TRANSIENT_QUERY_ERRORS = ("Error creating hnsw segment reader: Nothing found on disk",)
"""Chroma server errors a retry clears: a query that reaches a collection whose vector segment
is not yet on disk, right after the first writes (chroma-core/chroma#4212)."""
QUERY_RETRY_DELAYS = (0.05, 0.2, 0.5)
"""Seconds slept before each retry of a query that hit a transient error."""


def query(col: Any, **kwargs: Any) -> Any:
    """`col.query(**kwargs)`, retried a few times on the transient errors above."""
    from chromadb.errors import InternalError

    for delay in (*QUERY_RETRY_DELAYS, None):
        try:
            return col.query(**kwargs)
        except InternalError as exc:
            if delay is None or not any(t in str(exc) for t in TRANSIENT_QUERY_ERRORS):
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class EmbeddingModelMismatch(ValueError):
    """The bank was built with another embedding model than the one it is opened with."""


def open_collection(client: Any, name: str, model: str, location: str) -> Any:
    """Get or create the collection `name`, checking its embedding model and distance.

    Raises:
        EmbeddingModelMismatch: the collection records another embedding model.
        ValueError: the collection holds foreign records or does not use cosine distance.
    """
    col = client.get_or_create_collection(
        name,
        embedding_function=None,
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedding_model": model},
    )
    meta = dict(col.metadata or {})
    stored = meta.get("embedding_model")
    if stored is None:
        if col.count():
            raise ValueError(f"collection {name!r} at {location} is not a Memento case bank")
        col.modify(metadata={**meta, "embedding_model": model})
    elif stored != model:
        raise EmbeddingModelMismatch(
            f"case bank {name!r} at {location} was built with embedding model {stored!r}, "
            f"but it was opened with {model!r}; vectors of different models cannot be mixed: "
            "open it with the same model or use another collection"
        )
    space = ((col.configuration or {}).get("hnsw") or {}).get("space", "cosine")
    if space != "cosine":
        raise ValueError(f"collection {name!r} uses {space!r} distance; the bank needs cosine")
    return col


def pages(
    col: Any, where: dict[str, Any] | None, include: list[str], size: int
) -> Iterator[dict[str, Any]]:
    """Yield `col.get(...)` results page by page (`size` records each)."""
    offset = 0
    while True:
        page = col.get(where=where, include=include, limit=size, offset=offset)
        if not page["ids"]:
            return
        yield page
        offset += len(page["ids"])
        if len(page["ids"]) < size:
            return


def as_matrix(value: Any, dim: int) -> np.ndarray:
    """Chroma's embeddings (array, list of arrays or None) as a float32 (n, d) matrix."""
    if value is None or len(value) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.asarray(value, dtype=np.float32).reshape(len(value), -1)


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def require_all(ids: Sequence[str], found: Collection[str]) -> None:
    """Raise KeyError naming the ids (at most three) that were asked for but not found."""
    missing = [i for i in ids if i not in found]
    if missing:
        raise KeyError(f"{len(missing)} case id(s) not in the bank, e.g. {missing[:3]}")


def auth_headers(settings: Settings) -> dict[str, str] | None:
    """The optional 'Header-Name: value' setting as a headers dict (never logged)."""
    if settings.chroma_auth_header is None:
        return None
    raw = settings.chroma_auth_header.get_secret_value()
    name, sep, value = raw.partition(":")
    if not sep or not name.strip():
        raise ValueError("MEMENTO_CHROMA_AUTH_HEADER must look like 'Header-Name: value'")
    return {name.strip(): value.strip()}


Row = tuple[str, float, dict[str, Any], str | None, Any]
"""One query hit: (id, cosine distance, metadata, document or None, embedding or None)."""


def query_matching(
    col: Any,
    vectors: np.ndarray,
    k: int,
    *,
    namespace: str | None = None,
    label: str | None = None,
    include: Sequence[str] = (),
    fetch: int | None = None,
    floor: float | None = None,
) -> list[list[Row]]:
    """Top-k hits per query vector among records of `namespace`/`label`, best first.

    Chroma's `where` pre-filter costs a scan per query (hundreds of ms on 100k records, even
    when every record matches), and a query that returns metadata reads it for every hit (~70
    us each). So a filtered search asks for the unfiltered top `fetch` ids (then 8 times more),
    and reads the metadata (and what `include` names) of those ids in rank order, a window at a
    time, until k match (`_walk`). Only a query whose fetched hits still hold fewer than k
    matches, while records may remain unseen, is asked again with Chroma's filter. With
    `floor`, hits whose cosine is below it are not wanted, so a fetched list ending below the
    floor is complete (and only one unfiltered round is tried). An unfiltered search returns
    metadata only when `include` names "metadatas" (rows hold {} otherwise).
    """
    if k <= 0 or len(vectors) == 0:
        return [[] for _ in range(len(vectors))]
    if namespace is None and label is None:
        wanted = ["distances", *include]
        return _rows(query(col, query_embeddings=vectors, n_results=k, include=wanted))
    size = max(fetch or 4 * k, k, 32)
    result: list[list[Row]] = [[] for _ in range(len(vectors))]
    redo = list(range(len(vectors)))
    for n_results in (size, 8 * size):
        found = query(
            col, query_embeddings=vectors[redo], n_results=n_results, include=["distances"]
        )
        still: list[int] = []
        for i, ids, distances in zip(redo, found["ids"], found["distances"], strict=True):
            ranked = list(zip(ids, map(float, distances), strict=True))
            result[i], complete = _walk(col, ranked, k, namespace, label, include, floor)
            if not complete and len(ranked) >= n_results:
                still.append(i)
        redo = still
        if not redo or floor is not None:
            break
    if redo:
        clauses = [{key: val} for key, val in (("namespace", namespace), ("label", label)) if val]
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        wanted = ["metadatas", "distances", *include]
        again = _rows(
            query(col, query_embeddings=vectors[redo], n_results=k, where=where, include=wanted)
        )
        for i, hits in zip(redo, again, strict=True):
            result[i] = hits
    return result


def _walk(
    col: Any,
    hits: list[tuple[str, float]],
    k: int,
    namespace: str | None,
    label: str | None,
    include: Sequence[str],
    floor: float | None,
) -> tuple[list[Row], bool]:
    """The first k of ranked (id, distance) `hits` that match, and whether that is complete.

    Records are read by id a window at a time (k at first: in a bank of one namespace that is
    the only read; then at least twice the last window). Complete: k found, or the hits above
    `floor` ran out before the list did. A record deleted since the query is skipped.
    """
    if floor is not None:
        above = [h for h in hits if 1.0 - h[1] >= floor]
        cut, hits = len(above) < len(hits), above
    else:
        cut = False
    wanted = ["metadatas", *(x for x in include if x != "metadatas")]
    keep: list[Row] = []
    start, size = 0, 0
    while start < len(hits) and len(keep) < k:
        size = max(k - len(keep), 8, 2 * size)  # doubling: a rare namespace costs few reads
        window = hits[start : start + size]
        start += len(window)
        got = col.get(ids=[cid for cid, _ in window], include=wanted)
        docs, embs = got.get("documents"), got.get("embeddings")
        read = {
            cid: (
                dict(got["metadatas"][j] or {}),
                docs[j] if docs is not None else None,
                embs[j] if embs is not None else None,
            )
            for j, cid in enumerate(got["ids"])
        }
        for cid, distance in window:
            if cid in read and _matches(read[cid][0], namespace, label) and len(keep) < k:
                meta, doc, emb = read[cid]
                keep.append((cid, distance, meta, doc, emb))
    return keep, len(keep) >= k or cut


def _matches(meta: dict[str, Any], namespace: str | None, label: str | None) -> bool:
    return (namespace is None or meta.get("namespace") == namespace) and (
        label is None or meta.get("label") == label
    )


def _rows(res: dict[str, Any]) -> list[list[Row]]:
    """Chroma's column-wise query result as rows per query."""
    out: list[list[Row]] = []
    for q, ids in enumerate(res["ids"]):
        docs = res.get("documents")
        embs = res.get("embeddings")
        metas = res.get("metadatas")
        out.append(
            [
                (
                    cid,
                    float(res["distances"][q][j]),
                    dict(metas[q][j] or {}) if metas is not None else {},
                    docs[q][j] if docs is not None else None,
                    embs[q][j] if embs is not None else None,
                )
                for j, cid in enumerate(ids)
            ]
        )
    return out
