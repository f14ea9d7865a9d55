"""The Case Bank: a thin class over one Chroma collection that owns its client.

One code path for an embedded store (PersistentClient in a folder) and a Chroma server
(HttpClient). The collection uses cosine space and never Chroma's own embedding function:
vectors come from the bank's LangChain `Embeddings`, are L2-normalised, stored in Chroma and
read back from it (`vectors`, `all_vectors`, `nearest_vectors`), so nothing re-encodes stored cases.
The collection records the embedding model that built it; opening it with another model fails.

Writes (`add_cases`) are batched and all-or-nothing; the near-duplicate rule and what
concurrent writers (many processes, one server) can rely on are in `memento.memory.writer`;
statistics that several processes add to are per-writer tallies (`memento.memory.usage`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from memento.infra.progress import ProgressFn
from memento.memory.codec import BEST_REWARD_KEY, reward_metadata, unit_rows, where_filter
from memento.memory.collection import (
    EmbeddingModelMismatch,
    as_matrix,
    auth_headers,
    chunks,
    open_collection,
    pages,
    query_matching,
    require_all,
)
from memento.memory.embeddings import default_embeddings, embedding_model_id
from memento.memory.labelled import forget_labelled
from memento.memory.records import Case, Label, Plan, ScoredCase, label_for
from memento.memory.store import get_client
from memento.memory.usage import (
    Tally,
    add_tallies,
    add_tally,
    base_reward_for,
    forget,
    read_case,
)
from memento.memory.writer import AddReport, add_to_bank, where_of

if TYPE_CHECKING:
    from memento.settings import Settings

__all__ = ["AddReport", "CaseBank", "EmbeddingModelMismatch"]

EMBED_BATCH = 256
"""Texts embedded per call to the embedding model."""


class CaseBank:
    """Cases with their cached embeddings, in a Chroma collection (embedded or server)."""

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        url: str | None = None,
        collection: str = "memento_cases",
        embeddings: Embeddings | None = None,
        dedup_threshold: float | None = 0.97,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Open (or create) the bank: `url` selects a Chroma server, else `path` (embedded).

        Args:
            path: folder of the embedded store (used when `url` is not given).
            url: Chroma server URL such as http://127.0.0.1:8000.
            collection: Chroma collection name.
            embeddings: any LangChain `Embeddings`; default all-MiniLM-L6-v2 (offline).
            dedup_threshold: cosine similarity at or above which a new case in the same
                namespace updates its near-twin instead of being added; None disables it.
            headers: extra HTTP headers for a server (e.g. an auth token).

        Raises:
            ValueError: neither `url` nor `path` given, or a bad threshold.
            EmbeddingModelMismatch: the collection was built with another embedding model.
        """
        if dedup_threshold is not None and not 0.0 < dedup_threshold <= 1.0:
            raise ValueError(f"dedup_threshold must be in (0, 1], got {dedup_threshold}")
        if url is None and path is None:
            raise ValueError(
                "CaseBank needs a folder `path` or a server `url` (or from_settings())"
            )
        self.dedup_threshold = dedup_threshold
        self.location = url if url else str(path)
        self._embeddings: Embeddings = (
            embeddings if embeddings is not None else default_embeddings()
        )
        self._model = embedding_model_id(self._embeddings)
        self._client = get_client(url=url, headers=headers) if url else get_client(path=path)
        self.batch_size = max(1, min(self._client.get_max_batch_size(), 5000))
        self._collection = open_collection(self._client, collection, self._model, self.location)
        self._sides: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> CaseBank:
        """Open the bank that MEMENTO_HOME / MEMENTO_CHROMA_URL point at.

        The embedded store lives in `<home>/chroma`. Keyword overrides (path, url, collection,
        embeddings, dedup_threshold, headers) win over the settings; giving `path` or `url`
        replaces the settings' location.
        """
        from memento.settings import get_settings

        s = settings if settings is not None else get_settings()
        kwargs: dict[str, Any] = {"collection": s.collection, "dedup_threshold": s.dedup_threshold}
        if "path" not in overrides and "url" not in overrides:
            if s.chroma_url:
                kwargs["url"] = s.chroma_url
                kwargs["headers"] = auth_headers(s)
            else:
                kwargs["path"] = Path(s.home) / "chroma"
        kwargs.update(overrides)
        if kwargs.get("url") and "headers" not in kwargs:
            kwargs["headers"] = auth_headers(s)
        return cls(**kwargs)

    @property
    def embedding_model(self) -> str:
        """Name of the embedding model that built this bank."""
        return self._model

    @property
    def client(self) -> Any:
        """The Chroma client (shared by banks at the same location)."""
        return self._client

    def side_collection(self, suffix: str, *, create: bool = True) -> Any:
        """A helper collection `<name><suffix>` next to the cases (created once, then cached).

        With `create=False`, None when it does not exist yet (nothing to drop from it).
        """
        if suffix not in self._sides:
            name = f"{self._collection.name}{suffix}"
            if create:
                self._sides[suffix] = self._client.get_or_create_collection(
                    name, embedding_function=None
                )
            else:
                from chromadb.errors import NotFoundError

                try:
                    self._sides[suffix] = self._client.get_collection(name, embedding_function=None)
                except NotFoundError:
                    return None
        return self._sides[suffix]

    @property
    def collection(self) -> Any:
        """The underlying Chroma collection (for advanced use)."""
        return self._collection

    @property
    def dimension(self) -> int | None:
        """Vector size recorded in the bank, or None before the first write."""
        value = (self._collection.metadata or {}).get("embedding_dim")
        return int(value) if value is not None else None

    def embed_texts(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Unit vectors of many texts, shape (n, d), float32, embedded in batches."""
        parts: list[np.ndarray] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            parts.append(unit_rows(self._embeddings.embed_documents(batch)))
            if progress is not None:
                progress("embedding", start + len(batch), len(texts))
        if not parts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        return np.concatenate(parts)

    def add(
        self,
        task: str,
        plan: Plan | str | dict[str, Any],
        *,
        reward: float,
        label: Label | None = None,
        source: str = "memento",
        namespace: str = "default",
        case_id: str | None = None,
    ) -> str:
        """Store one case (or update its near-duplicate's statistics) and return its id.

        The id is `case_id` when given, else a content hash of (namespace, task, plan). Adding an
        id that is already stored (or was merged into another case) changes nothing and returns
        the id of the record holding it, so retried writes are idempotent. The label defaults to
        `label_for(reward)`.
        """
        from memento.memory.codec import case_id_for

        parsed = Plan.parse(plan)
        case = Case(
            id=case_id or case_id_for(namespace, task, parsed),
            task=task,
            plan=parsed,
            label=label or label_for(reward),
            reward=reward,
            source=source,
            namespace=namespace,
        )
        return self.add_cases_report([case]).ids[0]

    def add_cases(
        self, cases: Sequence[Case], *, dedup: bool = True, progress: ProgressFn | None = None
    ) -> list[str]:
        """Store many cases at once; all or nothing. Returns the id holding each input case."""
        return self.add_cases_report(cases, dedup=dedup, progress=progress).ids

    def add_cases_report(
        self, cases: Sequence[Case], *, dedup: bool = True, progress: ProgressFn | None = None
    ) -> AddReport:
        """Like `add_cases`, but also says how many were added, merged or already present.

        `dedup` applies the bank's `dedup_threshold` (no effect when that is None).
        """
        threshold = self.dedup_threshold if dedup else None
        return add_to_bank(self, list(cases), threshold=threshold, progress=progress)

    def resolve(self, case_id: str) -> str | None:
        """The id of the record holding `case_id`: itself, the case it was merged into, or None."""
        from memento.memory.writer import holders

        return holders(self, [case_id]).get(case_id)

    def as_retriever(self, **kwargs: Any) -> BaseRetriever:
        """This bank as a LangChain retriever (similarity; kwargs: k, namespace, quotas)."""
        from memento.memory.retriever import CaseRetriever
        from memento.memory.similarity import SimilaritySelector

        return CaseRetriever(selector=SimilaritySelector(self), **kwargs)

    def get(self, case_id: str) -> Case | None:
        """One case by id, or None."""
        found = self.get_many([case_id])
        return found[0] if found else None

    def get_many(self, ids: Sequence[str]) -> list[Case]:
        """Cases by id, in the order given (missing ids are skipped)."""
        by_id: dict[str, Case] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), self.batch_size):
            got = self._collection.get(ids=chunk, include=["documents", "metadatas"])
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                by_id[cid] = read_case(cid, doc, meta)
        return [by_id[i] for i in ids if i in by_id]

    def update(
        self,
        case_id: str,
        *,
        reward: float | None = None,
        label: Label | None = None,
        retrieved: int = 0,
        helpful: int = 0,
    ) -> Case:
        """Change reward/label and add to the usage counters; raises KeyError for unknown ids.

        A new reward without a label also sets the label to `label_for(reward)`. Counters never
        lose increments under concurrent writers (each process adds to its own tally, see
        `memento.memory.usage`); a reward or label is a plain set: the last writer wins.
        """
        if retrieved < 0 or helpful < 0:
            raise ValueError(f"counters only grow: retrieved={retrieved}, helpful={helpful}")
        got = self._collection.get(ids=[case_id], include=["documents", "metadatas"])
        if not got["ids"]:
            raise KeyError(f"no case with id {case_id!r}")
        document, meta = got["documents"][0], dict(got["metadatas"][0] or {})
        changes: dict[str, Any] = {}
        if reward is not None:
            changes = {"reward": reward, "label": label or label_for(reward)}
        elif label is not None:
            changes = {"label": label}
        current = read_case(case_id, document, meta)  # refuses a foreign record
        checked = Case.model_validate({**current.model_dump(), **changes})
        extra: dict[str, Any] = {key: getattr(checked, key) for key in changes}
        if reward is not None:  # the reward now told is also that of the plan it shows
            extra.update(reward_metadata(base_reward_for(meta, checked.reward)))
            extra[BEST_REWARD_KEY] = checked.reward
        meta = add_tally(
            self._collection,
            where_of(self),
            case_id,
            meta,
            Tally(retrieved=retrieved, helpful=helpful),
            extra,
        )
        if checked.label != current.label:
            forget_labelled(self, [case_id])
        return read_case(case_id, document, meta)

    def count_usage(self, shown: Sequence[str], helped: Collection[str]) -> list[str]:
        """Add one run to its shown cases' counters (times shown; times helped for `helped`).

        One Chroma read and one write for the whole run (a learner's record is on the task's
        path). Returns the shown ids that are not in the bank.
        """
        ids = list(dict.fromkeys(shown))
        if not ids:
            return []
        got = self._collection.get(ids=ids, include=["metadatas"])
        records = {
            cid: dict(meta or {}) for cid, meta in zip(got["ids"], got["metadatas"], strict=True)
        }
        deltas = {cid: Tally(retrieved=1, helpful=int(cid in helped)) for cid in records}
        add_tallies(self._collection, where_of(self), records, deltas)
        return [cid for cid in ids if cid not in records]

    def delete(self, ids: Iterable[str]) -> int:
        """Delete cases; returns how many existed."""
        wanted = list(dict.fromkeys(ids))
        existing: list[str] = []
        for chunk in chunks(wanted, self.batch_size):
            existing.extend(self._collection.get(ids=chunk, include=[])["ids"])
        for chunk in chunks(existing, self.batch_size):
            self._collection.delete(ids=chunk)
        forget(where_of(self), existing)
        forget_labelled(self, existing, deleted=True)
        return len(existing)

    def count(self, namespace: str | None = None) -> int:
        """Number of cases (in one namespace, or all)."""
        if namespace is None:
            return int(self._collection.count())
        return sum(len(page["ids"]) for page in self._pages_of(where_filter(namespace), []))

    def stats(self) -> dict[str, Any]:
        """Counts for a summary: count, positive, negative, namespaces {name: count}, model."""
        labels = {"positive": 0, "negative": 0}
        spaces: dict[str, int] = {}
        for page in self._pages_of(None, ["metadatas"]):
            for meta in page["metadatas"]:
                meta = meta or {}
                label = str(meta.get("label"))
                labels[label] = labels.get(label, 0) + 1
                ns = str(meta.get("namespace", "default"))
                spaces[ns] = spaces.get(ns, 0) + 1
        return {
            "count": sum(spaces.values()),
            "positive": labels["positive"],
            "negative": labels["negative"],
            "namespaces": dict(sorted(spaces.items())),
            "embedding_model": self.embedding_model,
        }

    def embed_query(self, text: str) -> np.ndarray:
        """The query's unit vector, shape (d,), float32."""
        vector: np.ndarray = unit_rows(self._embeddings.embed_query(text))[0]
        return vector

    def search(
        self,
        text: str,
        k: int = 4,
        *,
        namespace: str | None = None,
        label: Label | None = None,
    ) -> list[ScoredCase]:
        """Top-k cases by cosine similarity to `text` (score = cosine similarity)."""
        if k <= 0:
            return []
        return self.search_by_vector(self.embed_query(text), k, namespace=namespace, label=label)

    def search_by_vector(
        self,
        vector: np.ndarray,
        k: int,
        *,
        namespace: str | None = None,
        label: Label | None = None,
    ) -> list[ScoredCase]:
        """Top-k cases by cosine similarity to a query vector, best first."""
        if k <= 0:
            return []
        (hits,) = query_matching(
            self._collection,
            unit_rows(vector),
            k,
            namespace=namespace,
            label=label,
            include=["documents", "metadatas"],
        )
        return [
            ScoredCase(case=read_case(cid, doc, meta), score=1.0 - dist)
            for cid, dist, meta, doc, _ in hits
        ]

    def nearest_ids(
        self,
        vector: np.ndarray,
        k: int,
        *,
        namespace: str | None = None,
        label: Label | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """ANN shortlist without the vectors: (ids, cosine scores (k,)), best first."""
        ids, scores, _ = self._nearest(vector, k, namespace, label, with_vectors=False)
        return ids, scores

    def nearest_vectors(
        self,
        vector: np.ndarray,
        k: int,
        *,
        namespace: str | None = None,
        label: Label | None = None,
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """ANN shortlist: (ids, cosine scores (k,), cached vectors (k, d)) from Chroma."""
        return self._nearest(vector, k, namespace, label, with_vectors=True)

    def _nearest(
        self,
        vector: np.ndarray,
        k: int,
        namespace: str | None,
        label: Label | None,
        *,
        with_vectors: bool,
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        dim = self.dimension or int(np.asarray(vector).shape[-1])
        if k <= 0:
            return [], np.zeros(0, dtype=np.float32), np.zeros((0, dim), dtype=np.float32)
        (hits,) = query_matching(
            self._collection,
            unit_rows(vector),
            k,
            namespace=namespace,
            label=label,
            include=["embeddings"] if with_vectors else [],
        )
        ids = [h[0] for h in hits]
        scores = np.asarray([1.0 - h[1] for h in hits], dtype=np.float32)
        if not with_vectors:
            return ids, scores, np.zeros((0, dim), dtype=np.float32)
        vectors = as_matrix([h[4] for h in hits] if hits else None, dim)
        return ids, scores, vectors

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Cached embeddings of the given cases, shape (len(ids), d), read from Chroma.

        Raises:
            KeyError: naming the ids that are not in the bank.
        """
        found: dict[str, np.ndarray] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), self.batch_size):
            got = self._collection.get(ids=chunk, include=["embeddings"])
            for cid, vec in zip(got["ids"], as_matrix(got["embeddings"], 0), strict=True):
                found[cid] = vec
        require_all(ids, found)
        if not ids:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        return np.stack([found[i] for i in ids]).astype(np.float32)

    def all_ids(self, namespace: str | None = None) -> list[str]:
        """Ids of every case (in a namespace), in the order `all_vectors` reads them."""
        return [cid for page in self._pages_of(where_filter(namespace), []) for cid in page["ids"]]

    def all_vectors(self, namespace: str | None = None) -> tuple[list[str], np.ndarray]:
        """Ids and cached embeddings of every case (in a namespace), for exact scoring."""
        ids: list[str] = []
        parts: list[np.ndarray] = []
        for page in self._pages_of(where_filter(namespace), ["embeddings"]):
            ids.extend(page["ids"])
            parts.append(as_matrix(page["embeddings"], self.dimension or 0))
        if not ids:
            return [], np.zeros((0, self.dimension or 0), dtype=np.float32)
        return ids, np.concatenate(parts).astype(np.float32)

    def _pages_of(self, where: dict[str, Any] | None, include: list[str]) -> Iterator[Any]:
        return pages(self._collection, where, include, self.batch_size)

    def list(
        self,
        *,
        namespace: str | None = None,
        label: Label | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """Cases matching a filter, oldest first (created_at, then id)."""
        cases = [
            read_case(cid, doc, meta)
            for page in self._pages_of(where_filter(namespace, label), ["documents", "metadatas"])
            for cid, doc, meta in zip(
                page["ids"], page["documents"], page["metadatas"], strict=True
            )
        ]
        cases.sort(key=lambda c: (c.created_at, c.id))
        end = None if limit is None else offset + limit
        return cases[offset:end]
