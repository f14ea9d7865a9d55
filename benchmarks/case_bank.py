"""Case Bank benchmark: upstream import speed, similarity query latency and disk size by bank size.

Measures, in one run and on this machine:
1. Import of the 1,278 upstream cases (memory.jsonl) into a fresh embedded store with the
   default all-MiniLM-L6-v2 embeddings: wall time (validation + embedding + Chroma writes), cases/s.
2. Query latency (median and p95 of N queries, the query's embedding included) of
   `CaseBank.search(k=4)` and of `SimilaritySelector.select(k=4, positive=2, negative=2)` on banks
   of 1,278, 10,000 and 100,000 cases, and each bank's size on disk.

Larger banks are synthesised by varying upstream tasks with question prefixes and suffixes. The
10,000-case bank is embedded for real with MiniLM; the 100,000-case bank reuses the vectors of
those 10,000 texts plus Gaussian perturbations whose size matches the measured cosine between a
real variant and its original task (embedding 100k texts on two shared CPU cores takes minutes).
Queries are real questions from deepresearcher.jsonl, none of which is in the bank.

Writes only under benchmarks/out/case_bank/. Run from the repository root:
    .venv/bin/python benchmarks/case_bank.py
    .venv/bin/python benchmarks/case_bank.py --quick    # the upstream bank only (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from memento.memory.case_bank import CaseBank  # noqa: E402
from memento.memory.codec import case_id_for  # noqa: E402
from memento.memory.embeddings import default_embeddings  # noqa: E402
from memento.memory.formats import read_cases  # noqa: E402
from memento.memory.records import Case  # noqa: E402
from memento.memory.similarity import SimilaritySelector  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "case_bank"
PREFIXES = [
    "",
    "Quick question: ",
    "Please answer: ",
    "I need to know: ",
    "Can you find out: ",
    "Research task: ",
    "Help me with this. ",
    "Trivia: ",
    "For a quiz, ",
    "Look this up: ",
]
SUFFIXES = [
    "",
    " Answer briefly.",
    " Give sources.",
    " Be precise.",
    " One word if possible.",
    " Explain your reasoning.",
    " Use Wikipedia.",
    " Double-check the answer.",
    " Reply in English.",
    " Cite the year.",
]


class TableEmbeddings(Embeddings):
    """Precomputed vectors for known texts; anything else goes to the wrapped model (timed)."""

    def __init__(self, base: Embeddings, table: dict[str, np.ndarray], model_name: str) -> None:
        self.base, self.table, self.model_name = base, table, model_name
        self.seconds = 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Vectors from the table, embedding (and timing) texts it does not hold."""
        unknown = [t for t in texts if t not in self.table]
        if unknown:
            start = time.perf_counter()
            for text, vec in zip(unknown, self.base.embed_documents(unknown), strict=True):
                self.table[text] = np.asarray(vec, dtype=np.float32)
            self.seconds += time.perf_counter() - start
        return [self.table[t].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Queries are always embedded by the wrapped model."""
        return self.base.embed_query(text)


def variants(cases: list[Case], n: int) -> tuple[list[Case], list[int]]:
    """Return n cases (upstream ones, then prefix/suffix variants) and each one's upstream index."""
    combos = [(p, s) for s in SUFFIXES for p in PREFIXES][1:]
    out, roots = list(cases), list(range(len(cases)))
    for p, s in combos:
        for j, case in enumerate(cases):
            if len(out) >= n:
                return out, roots
            task = f"{p}{case.task}{s}"
            new_id = case_id_for("default", task, case.plan)
            out.append(case.model_copy(update={"task": task, "id": new_id}))
            roots.append(j)
    return out, roots


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def latencies(fn: Callable[[str], object], queries: list[str]) -> tuple[float, float]:
    """Median and p95 in milliseconds of fn(query) over the queries (after 5 warm-up calls)."""
    for q in queries[:5]:
        fn(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(round(0.95 * (len(times) - 1)))]


def _search_by_text_vector(bank: CaseBank, vecs: dict[str, np.ndarray], query: str) -> object:
    return bank.search_by_vector(vecs[query], 4, namespace="default")


def variant_cosine(table: dict[str, np.ndarray], cases: list[Case], roots: list[int]) -> float:
    """Mean cosine between embedded variants and their original upstream task."""
    sims = [
        float(table[c.task] @ table[cases[r].task])
        for c, r in zip(cases, roots, strict=True)
        if c.task != cases[r].task and c.task in table
    ]
    return float(np.mean(sims)) if sims else 0.9


def perturbed(base: np.ndarray, cos: float, seed: int = 0) -> np.ndarray:
    """Unit vectors at expected cosine `cos` from the unit rows of `base` (Gaussian noise)."""
    sigma = np.sqrt((1.0 / cos**2 - 1.0) / base.shape[1])
    noisy = base + np.random.default_rng(seed).normal(0.0, sigma, base.shape).astype(np.float32)
    unit: np.ndarray = (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
    return unit


def main() -> None:
    parser = argparse.ArgumentParser(description="Case Bank benchmark")
    parser.add_argument("--sizes", default="1278,10000,100000", help="Bank sizes, ascending.")
    parser.add_argument("--queries", type=int, default=200, help="Timed queries per bank.")
    parser.add_argument(
        "--keep-banks",
        action="store_true",
        help="Reuse larger banks built by an earlier run (the import is always redone).",
    )
    parser.add_argument("--real-up-to", type=int, default=10_000, help="Embed banks up to this.")
    parser.add_argument("--quick", action="store_true", help="1,278 cases, 20 queries (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries = "1278", 20
    sizes = sorted(int(s) for s in args.sizes.split(","))
    data_dir = upstream_or_skip(ROOT, "memory.jsonl", "deepresearcher.jsonl")
    shutil.rmtree(OUT / "bank_1278" if args.keep_banks else OUT, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    lines = (data_dir / "deepresearcher.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines]
    queries = random.Random(0).sample(questions, args.queries)
    minilm = default_embeddings()
    minilm.embed_query("load the model before timing")

    # 1. Import of the upstream file into a fresh store: the path `memento cases import` takes.
    table: dict[str, np.ndarray] = {}
    timed = TableEmbeddings(minilm, table, minilm.model_name)
    start = time.perf_counter()
    upstream = read_cases(data_dir / "memory.jsonl")
    first = CaseBank(path=OUT / "bank_1278", embeddings=timed, dedup_threshold=None)
    first.add_cases(upstream, dedup=False)
    import_s = time.perf_counter() - start
    embed_s = timed.seconds
    print(f"import: {len(upstream)} cases in {import_s:.1f} s", file=sys.stderr)

    rows = []
    variant_cos: float | None = None
    for n in sizes:
        path = OUT / f"bank_{n}"
        cases, roots = variants(upstream, n)
        t0 = time.perf_counter()
        note = path / "bench.json"
        if n <= len(upstream):
            bank, how, build_s = first, "real (MiniLM)", import_s
        elif args.keep_banks and note.exists():
            bank = CaseBank(path=path, embeddings=timed, dedup_threshold=None)
            saved = json.loads(note.read_text(encoding="utf-8"))
            if bank.count() != n:
                sys.exit(f"{path} holds {bank.count()} cases, not {n}: run without --keep-banks")
            how, build_s = f"{saved['how']} (bank reused)", float(saved["build_s"])
        else:
            missing = [i for i, c in enumerate(cases) if c.task not in table]
            if n <= args.real_up_to:
                how = "real (MiniLM)"
            else:
                cos = variant_cos if variant_cos is not None else 0.9
                base = np.stack([table[upstream[roots[i]].task] for i in missing])
                for i, vec in zip(missing, perturbed(base, cos), strict=True):
                    table[cases[i].task] = vec
                how = f"{len(missing):,} perturbed (cos {cos:.2f})"
            shutil.rmtree(path, ignore_errors=True)
            bank = CaseBank(path=path, embeddings=timed, dedup_threshold=None)
            bank.add_cases(cases, dedup=False)
            build_s = time.perf_counter() - t0
            note.write_text(json.dumps({"how": how, "build_s": build_s}), encoding="utf-8")
            if n <= args.real_up_to:
                variant_cos = variant_cosine(table, cases, roots)
        selector = SimilaritySelector(bank)
        embed_ms = latencies(minilm.embed_query, queries)[0]
        vecs = {q: bank.embed_query(q) for q in queries}
        by_vector = partial(_search_by_text_vector, bank, vecs)
        v_med, v_p95 = latencies(by_vector, queries)
        s_med, s_p95 = latencies(partial(bank.search, k=4, namespace="default"), queries)
        q_med, q_p95 = latencies(
            partial(selector.select, k=4, namespace="default", positive=2, negative=2), queries
        )
        rows.append(
            (n, how, build_s, embed_ms, v_med, v_p95, s_med, s_p95, q_med, q_p95, disk_mb(path))
        )
        print(f"bank {n}: measured", file=sys.stderr)

    print(
        "| cases | vectors | build s | query embedding ms | vector search ms | p95 "
        "| search k=4 ms | p95 | select 2+/2- ms | p95 | disk MB | search vs smallest |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    smallest = rows[0][6]
    for n, how, build, emb, vmed, vp95, smed, sp95, qmed, qp95, mb in rows:
        print(
            f"| {n:,} | {how} | {build:.1f} | {emb:.1f} | {vmed:.1f} | {vp95:.1f} | {smed:.1f} "
            f"| {sp95:.1f} | {qmed:.1f} | {qp95:.1f} | {mb:.1f} | {smed / smallest:.2f}x |"
        )
    print()
    print(
        "Times are medians (and p95) of the queries in milliseconds; 'vector search' is "
        "`search_by_vector` (Chroma + decoding, query already embedded), 'search' and 'select' "
        "include the query embedding; all filter on the namespace, as the graph does."
    )
    print()
    print(
        f"Import of {len(upstream):,} upstream cases into a fresh store: {import_s:.1f} s "
        f"({len(upstream) / import_s:.0f} cases/s), of which MiniLM embedding {embed_s:.1f} s."
    )
    print()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {os.cpu_count()} CPU cores, load average {load} (1/5/15 min) at the end.")
    print()
    given = " --quick" if args.quick else ""
    print(f"Reproduce: .venv/bin/python benchmarks/case_bank.py{given}")


if __name__ == "__main__":
    main()
