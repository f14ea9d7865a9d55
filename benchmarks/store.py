"""LangGraph store benchmark: ChromaStore against InMemoryStore and PostgresStore, side by side.

Loads the same N items (10,000; --quick: 500) into each store, in 100 namespaces
("users", "u<i>", "memories"), then times single operations, one at a time:
  put      a new item
  get      an item by namespace and key
  search   a semantic query over all items (k=10)
  search+  a semantic query in one namespace with a `$gte` filter (k=10)
Each row gives the median and p95 in ms and the ratio of medians to InMemoryStore.

Embeddings: MiniLM (the bundled all-MiniLM-L6-v2) for every store in the full run; --quick uses
the deterministic hash embeddings. Every text (the items, the timed puts and queries) is embedded
once up front and served from a cache, so the table measures the stores alone: on a loaded
machine one MiniLM embedding (tens to hundreds of ms) would swamp them. The median time to embed
one fresh text is printed above the table: add it to put, search and search+ for what a user
waits. PostgresStore needs a server with the pgvector extension: its DSN comes from
--postgres-dsn or MEMENTO_TEST_POSTGRES_DSN (a fresh database is created and dropped;
.ci/services starts one with pgvector); without one, or without pgvector, its rows are skipped
with a line saying why.

Writes benchmarks/out/store/results.json. Run from the repository root:
    .venv/bin/python benchmarks/store.py
    .venv/bin/python benchmarks/store.py --quick
    .venv/bin/python benchmarks/store.py --quick --items 10000   (10,000 items, no MiniLM)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, IndexConfig, PutOp
from langgraph.store.memory import InMemoryStore

from memento.memory.chroma_store import ChromaStore
from memento.memory.embeddings import default_embeddings
from memento.testing.fakes import HashEmbeddings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "store"
FOODS = ["pizza", "sushi", "tacos", "ramen", "salad", "curry", "pasta", "dumplings", "falafel"]
JOBS = ["nurse", "teacher", "engineer", "chef", "pilot", "lawyer", "farmer", "designer"]
CITIES = ["Lisbon", "Osaka", "Lima", "Oslo", "Accra", "Denver", "Hanoi", "Tunis", "Quito"]
HOBBIES = ["chess", "surfing", "knitting", "running", "painting", "birding", "climbing"]


class CachedEmbeddings(Embeddings):
    """Serves pre-computed vectors for known texts (documents and queries), embeds the rest."""

    def __init__(self, inner: Embeddings, known: dict[str, list[float]]) -> None:
        self.inner = inner
        self.known = known
        self.model_name = f"cached-{getattr(inner, 'model_name', type(inner).__name__)}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Known texts from the cache, others embedded now."""
        fresh = [t for t in texts if t not in self.known]
        made = dict(zip(fresh, self.inner.embed_documents(fresh), strict=True)) if fresh else {}
        return [self.known[t] if t in self.known else made[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """A known query from the cache, another embedded now."""
        return self.known[text] if text in self.known else self.inner.embed_query(text)


def memory_text(rng: random.Random, i: int) -> str:
    """One synthetic memory about a user, unique by its number."""
    return (
        f"Memory {i}: the user likes {rng.choice(FOODS)}, works as a {rng.choice(JOBS)} in "
        f"{rng.choice(CITIES)} and spends weekends on {rng.choice(HOBBIES)}."
    )


def items(n: int, seed: int = 7) -> list[tuple[tuple[str, ...], str, dict[str, Any]]]:
    """(namespace, key, value) for n items over 100 user namespaces."""
    rng = random.Random(seed)
    return [
        (("users", f"u{i % 100}", "memories"), f"m{i}", {"text": memory_text(rng, i), "rank": i})
        for i in range(n)
    ]


def stats(samples: list[float]) -> tuple[float, float]:
    """Median and p95 of samples in seconds, as milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(fn: Callable[[int], object], reps: int) -> list[float]:
    """Wall time of fn(0..reps-1), one call at a time."""
    out = []
    for i in range(reps):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def timed_texts(n: int, reps: int) -> tuple[list[str], list[str]]:
    """The texts of the timed puts, and the queries (search's, then search+'s)."""
    rng = random.Random(11)
    puts = [memory_text(rng, n + i) for i in range(reps)]
    queries = [
        f"who likes {rng.choice(FOODS)} and lives in {rng.choice(CITIES)}? (question {i})"
        for i in range(2 * reps)
    ]
    return puts, queries


def measure(store: BaseStore, data: list[Any], reps: int) -> dict[str, Any]:
    """Bulk-load `data` into `store`, then time put/get/search one operation at a time."""
    start = time.perf_counter()
    for lo in range(0, len(data), 500):
        store.batch([PutOp(ns, key, value) for ns, key, value in data[lo : lo + 500]])
    load_s = time.perf_counter() - start
    n = len(data)
    puts, queries = timed_texts(n, reps)
    ns = ("users", "u7", "memories")

    def put(i: int) -> None:
        store.put(ns, f"new{i}", {"text": puts[i], "rank": n + i})

    def get(i: int) -> None:
        ns_i, key, _ = data[(i * 37) % n]
        assert store.get(ns_i, key) is not None

    def search(i: int) -> None:
        assert len(store.search(("users",), query=queries[i], limit=10)) == 10

    def search_ns(i: int) -> None:
        store.search(ns, query=queries[reps + i], filter={"rank": {"$gte": n // 2}}, limit=10)

    ops = {"put": put, "get": get, "search": search, "search+": search_ns}
    return {"load_s": load_s, **{name: stats(timed(fn, reps)) for name, fn in ops.items()}}


@contextlib.contextmanager
def postgres_store(dsn: str, index: IndexConfig) -> Iterator[BaseStore]:
    """A PostgresStore in a fresh database on the server behind `dsn` (dropped afterwards)."""
    import psycopg
    from langgraph.store.postgres import PostgresStore

    from memento.testing.services import create_database

    db = create_database(dsn, prefix="store_bench_")
    try:
        with PostgresStore.from_conn_string(db, index=index) as store:  # type: ignore[arg-type]
            store.setup()
            yield store
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db.rsplit("/", 1)[1]}" WITH (FORCE)')


def pgvector_missing(dsn: str) -> str | None:
    """Why PostgresStore cannot run a vector index on this server, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported as the reason
        return f"cannot connect to {dsn.split('@')[-1]}: {exc}"
    return None if row else "the server has no pgvector extension (CREATE EXTENSION vector)"


def table(results: dict[str, dict[str, Any]]) -> str:
    """The Markdown table: per op and store, median and p95 (ms), ratio to InMemoryStore."""
    base = results["InMemoryStore"]
    lines = [
        "| op | store | median ms | p95 ms | x InMemory (median) |",
        "|---|---|---:|---:|---:|",
    ]
    for op in ("put", "get", "search", "search+"):
        for name, row in results.items():
            med, p95 = row[op]
            ratio = med / base[op][0] if base[op][0] else float("nan")
            shown = f"{ratio:.2f}" if ratio < 10 else f"{ratio:,.0f}"
            lines.append(f"| {op} | {name} | {med:.2f} | {p95:.2f} | {shown} |")
    for name, row in results.items():
        lines.append(f"| load | {name} | {row['load_s']:.1f} s total | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 items, hash embeddings")
    parser.add_argument("--items", type=int, default=None, help="items per store")
    parser.add_argument("--reps", type=int, default=None, help="timed calls per op")
    parser.add_argument("--postgres-dsn", default=os.environ.get("MEMENTO_TEST_POSTGRES_DSN"))
    args = parser.parse_args()
    n = args.items or (500 if args.quick else 10_000)
    reps = args.reps or (25 if args.quick else 200)
    inner: Embeddings = HashEmbeddings(64) if args.quick else default_embeddings()
    dims = 64 if args.quick else 384
    data = items(n)
    puts, queries = timed_texts(n, reps)
    texts = [value["text"] for _, _, value in data] + puts + queries
    start = time.perf_counter()
    cache = dict(zip(texts, inner.embed_documents(texts), strict=True))
    print(
        f"embedded {len(texts)} texts once in {time.perf_counter() - start:.1f} s", file=sys.stderr
    )
    embed_ms, _ = stats(timed(lambda i: inner.embed_query(f"a fresh text, number {i}"), 25))
    index = IndexConfig(dims=dims, embed=CachedEmbeddings(inner, cache), fields=["text"])

    results: dict[str, dict[str, Any]] = {
        "InMemoryStore": measure(InMemoryStore(index=index), data, reps)
    }
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        results["ChromaStore"] = measure(ChromaStore(path=tmp, index=index), data, reps)
    notes = []
    if not args.postgres_dsn:
        if os.environ.get("CI") == "true":  # .ci/services exports the DSN: its absence is a bug
            raise SystemExit("PostgresStore: no MEMENTO_TEST_POSTGRES_DSN under CI=true")
        notes.append("PostgresStore skipped: no DSN (--postgres-dsn or MEMENTO_TEST_POSTGRES_DSN)")
    elif why := pgvector_missing(args.postgres_dsn):
        notes.append(f"PostgresStore skipped: {why}")
    else:
        with postgres_store(args.postgres_dsn, index) as pg:
            results["PostgresStore"] = measure(pg, data, reps)

    embed = "hash embeddings (64-d)" if args.quick else "MiniLM all-MiniLM-L6-v2 (384-d)"
    print(f"\n{n} items in 100 namespaces, {reps} timed calls per op, {embed}")
    print(f"(times exclude embedding; one fresh text embeds in {embed_ms:.2f} ms, median)\n")
    print(table(results))
    for note in notes:
        print(f"\n{note}")
    OUT.mkdir(parents=True, exist_ok=True)
    record = {"items": n, "reps": reps, "embeddings": embed, "embed_ms": embed_ms}
    record.update(results=results, notes=notes)
    (OUT / "results.json").write_text(json.dumps(record, indent=2))
    flags = " --quick" if args.quick else ""
    flags += f" --items {args.items}" if args.items else ""
    flags += f" --reps {args.reps}" if args.reps else ""
    print(f"\nReproduce: .venv/bin/python benchmarks/store.py{flags}")


if __name__ == "__main__":
    main()
