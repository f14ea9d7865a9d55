"""ChromaStore: LangGraph's `BaseStore` over Chroma, embedded (`path=`) or a server (`url=`).

Items live in one collection (value as JSON in the document, namespace, key, timestamps and
top-level scalars in metadata, a constant 1-d vector since Chroma needs one); their embedded
fields live in a second, cosine collection, one record per (item, field path), so one item may
have several vectors (max-pooled at search time) or none (`index=False`). Embeddings come from
`index` (an IndexConfig), by default the bundled MiniLM: Chroma's own (downloading) default
embedding function is never used. TTL is not supported (`put(..., ttl=...)` raises).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    ensure_embeddings,
)
from langgraph.store.base import validate_op_namespace as _validate

from memento.memory import chroma_store_filters as f
from memento.memory.collection import auth_headers, open_collection, query
from memento.memory.embeddings import default_embeddings, embedding_model_id
from memento.memory.store import get_client

if TYPE_CHECKING:
    from memento.settings import Settings

DEFAULT_COLLECTION = "memento_store"
_KIND = "langgraph-store"
_PAGE = 5000
_PLACEHOLDER: list[Sequence[float]] = [[1.0]]
"""The vector of every record of the items collection (Chroma stores no vector-less record)."""
_LAYOUT = 2
"""Record layout: 2 adds the `nsp<d>` prefix fields; a store filled before keeps per-label ones."""


def default_index() -> IndexConfig:
    """The index a ChromaStore gets unless told otherwise: MiniLM over the whole value."""
    return IndexConfig(dims=384, embed=default_embeddings(), fields=["$"])


class ChromaStore(BaseStore):
    """A persistent LangGraph store over Chroma, with semantic search (see the module doc).

    Search without `query` returns items in first-insertion order (an update keeps its place),
    as InMemoryStore does; with `query`, by cosine similarity (`score`), best first, then
    unindexed items unscored. `created_at` survives updates.
    """

    supports_ttl = False

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        collection: str = DEFAULT_COLLECTION,
        index: IndexConfig | None = None,
    ) -> None:
        self.index_config: IndexConfig = dict(index or default_index())  # type: ignore[assignment]
        self.embeddings: Embeddings = ensure_embeddings(self.index_config.get("embed"))
        self._fields = f.paths(self.index_config.get("fields") or ["$"])
        client = get_client(path=path, url=url, headers=headers)
        where = url or str(path)
        model = embedding_model_id(self.embeddings)
        self._items = client.get_or_create_collection(
            collection, embedding_function=None, metadata={"kind": _KIND, "layout": _LAYOUT}
        )
        meta = dict(self._items.metadata or {})
        if meta.get("kind") != _KIND:
            raise ValueError(f"collection {collection!r} at {where} is not a ChromaStore's")
        if meta.get("layout") != _LAYOUT and not self._items.count():
            meta["layout"] = _LAYOUT
            self._items.modify(metadata=meta)
        self._prefix_fields = meta.get("layout") == _LAYOUT
        self._vectors = open_collection(client, f"{collection}_vectors", model, where)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> ChromaStore:
        """The store beside the case bank: MEMENTO_CHROMA_URL's server, else `<home>/chroma`."""
        from memento.settings import get_settings

        s = settings if settings is not None else get_settings()
        kwargs: dict[str, Any] = {}
        if s.chroma_url:
            kwargs.update(url=s.chroma_url, headers=auth_headers(s))
        else:
            kwargs["path"] = Path(s.home) / "chroma"
        return cls(**{**kwargs, **overrides})

    # BaseStore's two abstract methods -------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops in order; puts to one (namespace, key) collapse to the last, as in memory."""
        ops = list(ops)
        for op in ops:
            _validate(op)
        results: list[Result] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op
                results.append(None)
            elif isinstance(op, GetOp):
                results.append(self._get(op))
            elif isinstance(op, SearchOp):
                results.append(self._search(op))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op))
            else:
                raise ValueError(f"Unknown operation type: {type(op)}")
        if puts:
            self._apply_puts(list(puts.values()))
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread (the Chroma client and the embeddings are synchronous)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # reads ------------------------------------------------------------------------------

    def _get(self, op: GetOp) -> Item | None:
        found = self._fetch([f.item_id(op.namespace, op.key)])
        return found[0] if found else None

    def _fetch(self, ids: Sequence[str]) -> list[Item]:
        """Items by id, in the order asked (missing ids left out)."""
        if not ids:
            return []
        got = self._items.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            i: f.to_item(doc, meta)
            for i, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        }
        return [by_id[i] for i in ids if i in by_id]

    def _scan(self, where: f.Where | None, flt: dict[str, Any] | None) -> list[Item]:
        """Every item matching `where` and then `flt`, in storage order."""
        out: list[Item] = []
        offset = 0
        while True:
            page = self._items.get(
                where=where, include=["documents", "metadatas"], limit=_PAGE, offset=offset
            )
            docs, metas = page["documents"] or [], page["metadatas"] or []
            out.extend(
                it
                for d, m in zip(docs, metas, strict=True)
                if f.matches((it := f.to_item(d, m)).value, flt)
            )
            if len(page["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def _prefix(self, prefix: Sequence[str]) -> list[f.Where]:
        """Chroma conditions for a namespace prefix: one `nsp<d>` equality where records have it."""
        if self._prefix_fields:
            return f.prefix_condition(prefix)
        return f.prefix_where(prefix, wildcards=False)

    def _search(self, op: SearchOp) -> list[SearchItem]:
        conditions = self._prefix(op.namespace_prefix) + f.filter_where(op.filter)
        if op.query:
            return self._semantic(op, conditions)
        where = f.combine(conditions)
        if not op.filter:
            page = self._items.get(
                where=where, include=["documents", "metadatas"], limit=op.limit, offset=op.offset
            )
            items = [
                f.to_item(d, m)
                for d, m in zip(page["documents"] or [], page["metadatas"] or [], strict=True)
            ]
        else:
            items = self._scan(where, op.filter)[op.offset : op.offset + op.limit]
        return [f.scored(it, None) for it in items]

    def _semantic(self, op: SearchOp, conditions: list[f.Where]) -> list[SearchItem]:
        """Max-pooled cosine ranking over the item's vectors, then unindexed items unscored."""
        want = op.offset + op.limit
        total = self._vectors.count()
        kept = self._ranked(op, conditions, total) if total else []
        out = [f.scored(it, score) for it, score in kept[op.offset : want]]
        if len(out) < op.limit:
            where = f.combine([*conditions, {"n_vectors": {"$eq": 0}}])
            extra = self._scan(where, op.filter)[: op.limit - len(out)]
            out.extend(f.scored(it, None) for it in extra)
        return out

    def _ranked(
        self, op: SearchOp, conditions: list[f.Where], total: int
    ) -> list[tuple[Item, float]]:
        """Matching items with their best cosine, best first: at least offset + limit of them.

        Chroma's metadata filter costs in proportion to the records each condition matches, a
        plain nearest-vector query little: so the nearest few vectors are first taken unfiltered
        and filtered here; only when too few pass does the filter go to Chroma, asking for a few
        vectors per wanted item, then four times more while the Python filter (or several
        vectors per item) leaves too few.
        """
        vector = self.embeddings.embed_query(op.query or "")
        want = op.offset + op.limit
        k = min(total, max(16, want * 2 * max(1, len(self._fields)) + 1))
        if conditions:
            kept, complete = self._nearest(op, vector, k, None, total)
            if complete or len(kept) >= want:
                return kept
        where = f.combine(conditions)
        while True:
            kept, complete = self._nearest(op, vector, k, where, total)
            if complete or len(kept) >= want:
                return kept
            k = min(total, k * 4)

    def _nearest(
        self, op: SearchOp, vector: list[float], k: int, where: f.Where | None, total: int
    ) -> tuple[list[tuple[Item, float]], bool]:
        """The search's matches among the k vectors nearest `vector` (within `where`), best first.

        Also says whether those k were every vector there is (no more to ask for).
        """
        hits = query(
            self._vectors,
            query_embeddings=[vector],
            n_results=k,
            where=where,
            include=["distances"],
        )
        ranked: dict[str, float] = {}
        for vector_id, dist in zip(hits["ids"][0], hits["distances"][0], strict=True):
            ranked.setdefault(vector_id.split(":", 1)[0], 1.0 - float(dist))  # "<item id>:<path>"
        kept = [
            (it, ranked[i])
            for i, it in self._fetch_ids(list(ranked))
            if f.has_prefix(it.namespace, op.namespace_prefix) and f.matches(it.value, op.filter)
        ]
        return kept, k >= total or len(hits["ids"][0]) < k

    def _fetch_ids(self, ids: list[str]) -> list[tuple[str, Item]]:
        items = self._fetch(ids)
        by_key = {f.item_id(it.namespace, it.key): it for it in items}
        return [(i, by_key[i]) for i in ids if i in by_key]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions: list[f.Where] = []
        for cond in op.match_conditions or ():
            if cond.match_type == "prefix":
                conditions += f.prefix_where(cond.path)
        seen: set[tuple[str, ...]] = set()
        offset = 0
        while True:
            page = self._items.get(
                where=f.combine(conditions), include=["metadatas"], limit=_PAGE, offset=offset
            )
            seen.update(tuple(json.loads(str(m["ns"]))) for m in page["metadatas"] or [])
            if len(page["ids"]) < _PAGE:
                break
            offset += _PAGE
        return f.select_namespaces(seen, op)

    # writes -----------------------------------------------------------------------------

    def _apply_puts(self, puts: list[PutOp]) -> None:
        """Write a batch's puts and deletes (embedding first: a failed embed writes nothing)."""
        ids = [f.item_id(op.namespace, op.key) for op in puts]
        live = [
            (i, op, dict(op.value)) for i, op in zip(ids, puts, strict=True) if op.value is not None
        ]
        owners: list[tuple[str, str]] = []
        texts: list[str] = []
        names: dict[str, list[str]] = {}
        for i, op, value in live:
            pairs = self._texts(value, op.index)
            owners += [(i, name) for name, _ in pairs]
            texts += [text for _, text in pairs]
            names[i] = [name for name, _ in pairs]
        vectors = self.embeddings.embed_documents(texts) if texts else []
        with self._lock:
            old = self._items.get(ids=ids, include=["metadatas"])
            created: dict[str, str] = {}
            stale: list[str] = []  # vectors of the old values that the new ones do not overwrite
            for i, m in zip(old["ids"], old["metadatas"] or [], strict=True):
                created[i] = str(m["created_at"])
                kept = set(names.get(i, ()))
                stale += [f"{i}:{n}" for n in json.loads(str(m["vectors"])) if n not in kept]
            if stale:
                self._vectors.delete(ids=stale)
            gone = [i for i, op in zip(ids, puts, strict=True) if op.value is None]
            if gone:
                self._items.delete(ids=gone)
            if not live:
                return
            now = datetime.now(UTC).isoformat()
            metas: dict[str, dict[str, Any]] = {}
            for i, op, value in live:
                meta = f.item_metadata(op.namespace, op.key, value, created.get(i, now), now)
                metas[i] = {**meta, "n_vectors": len(names[i]), "vectors": json.dumps(names[i])}
            self._items.upsert(
                ids=[i for i, _, _ in live],
                embeddings=_PLACEHOLDER * len(live),
                documents=[json.dumps(value, ensure_ascii=False) for _, _, value in live],
                metadatas=[metas[i] for i, _, _ in live],
            )
            if owners:
                self._vectors.upsert(
                    ids=[f"{i}:{name}" for i, name in owners],
                    embeddings=vectors,
                    metadatas=[{**metas[i], "item": i, "path": name} for i, name in owners],
                )

    def _texts(self, value: dict[str, Any], index: Any) -> list[tuple[str, str]]:
        """(path name, text) pairs to embed for one value (store fields unless `index` says)."""
        if index is False:
            return []
        return f.texts_at(value, self._fields if index is None else f.paths(index))


def server_store() -> ChromaStore:
    """The LangGraph server's store, as langgraph.json names it.

    `"store": {"path": "memento.memory.chroma_store.server_store"}`: the store from the settings.
    """
    return ChromaStore.from_settings()
