"""Corpus benchmark: indexing speed, query latency, and hybrid vs vector vs BM25 retrieval quality.

Generates N synthetic encyclopedia entries (invented names, a registry code, a founder, a year
and a distinctive feature drawn from a pool of hand-written feature/paraphrase pairs), indexes
them with the project's indexer (MiniLM embeddings, Chroma), then measures:

- indexing throughput (files/s) cold, and re-indexing unchanged files (the incremental path);
- query latency (median / p95) for each retrieval mode;
- recall@5 and MRR@10 on three labelled query sets with known answers: `code` (exact registry
  code), `name` (the invented name plus an attribute), `paraphrase` (category and feature in
  other words, without the name; every entry with that category and feature counts).

Writes only under benchmarks/out/. Run:
    .venv/bin/python benchmarks/corpus_retrieval.py [--docs 1000]
    .venv/bin/python benchmarks/corpus_retrieval.py --quick    # 100 documents (smoke run)
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "corpus"

# (feature as written in the document, the same idea in other words for the query)
FEATURES = [
    ("a market hall with a glass roof", "a covered bazaar under a transparent ceiling"),
    (
        "a clock tower that chimes thirteen times at noon",
        "a belfry ringing an extra hour at midday",
    ),
    ("vineyards that climb the northern cliffs", "grapes grown on steep rocks facing north"),
    ("an annual festival of paper lanterns", "a yearly celebration with glowing lamps"),
    ("a library carved into a salt mine", "books kept underground in a salt excavation"),
    ("a bridge made entirely of recycled ships", "a crossing built from the hulls of old boats"),
    ("wild horses roaming the dunes", "untamed ponies living on sandy hills"),
    ("a lighthouse powered by the tides", "a coastal beacon running on ocean currents"),
    ("a cathedral with a floating staircase", "a church whose stairs seem to hover"),
    ("hot springs used for growing orchids", "geothermal pools that help flowers bloom"),
    ("a railway that runs on wooden tracks", "trains riding on timber rails"),
    (
        "a canal network frozen for skating each winter",
        "waterways turned into ice rinks in the cold season",
    ),
    ("an observatory on a floating island", "a telescope station on a drifting isle"),
    ("a cheese aged inside volcanic caves", "dairy matured in lava tunnels"),
    ("windmills that pump seawater into salt pans", "wind-driven pumps filling evaporation ponds"),
    ("a museum of broken musical instruments", "an exhibition of damaged violins and pianos"),
    ("streets paved with blue river stones", "roads laid with azure pebbles from the stream"),
    ("a forest of petrified trees", "woodland turned to stone"),
    ("a ferry pulled by cables across the gorge", "a boat hauled on ropes over the ravine"),
    ("a monastery famous for its honey", "monks known for their beekeeping"),
    ("a harbor guarded by bronze statues of whales", "a port watched over by metal sea giants"),
    ("a university founded by clockmakers", "a college started by watch craftsmen"),
    (
        "terraced rice fields irrigated by bamboo pipes",
        "stepped paddies watered through cane tubes",
    ),
    ("a theater built inside an old gasometer", "a stage housed in a former gas storage tank"),
    (
        "tunnels that glow with bioluminescent fungi",
        "underground passages lit by shining mushrooms",
    ),
    ("a desert garden of giant cacti", "an arid park full of huge succulents"),
    ("a funicular climbing to the old fortress", "a cable railway up to the ancient castle"),
    ("a lake that changes color every spring", "water whose hue shifts each spring season"),
    ("a weekly auction of rare spices", "a regular sale of uncommon seasonings"),
    (
        "an aqueduct still carrying drinking water",
        "an ancient water channel that supplies taps today",
    ),
    ("a tower built from stacked shipping containers", "a high-rise made of cargo boxes"),
    (
        "a cemetery where trees replace gravestones",
        "a burial ground with saplings instead of headstones",
    ),
    ("a river dyed red by iron deposits", "a stream colored crimson by rusty minerals"),
    ("an ice hotel rebuilt every winter", "a frozen lodge reconstructed each cold season"),
    ("a printing press that still sets type by hand", "a print shop using manual movable letters"),
    ("a silk workshop run by a cooperative", "a collectively owned textile mill for silk"),
    ("a zoo that only keeps rescued owls", "a sanctuary for saved nocturnal birds of prey"),
    ("a sundial the size of a football field", "a giant shadow clock as large as a stadium pitch"),
    ("mosaic floors depicting sea monsters", "tiled pavements showing ocean beasts"),
    ("a market for second-hand telescopes", "a bazaar selling used stargazing instruments"),
]
CATEGORIES = [
    ("town", "settlement"),
    ("island", "isle"),
    ("valley", "dale"),
    ("port", "harbor town"),
    ("village", "hamlet"),
    ("district", "quarter"),
    ("province", "region"),
    ("abbey", "priory"),
    ("estate", "manor"),
    ("oasis", "desert spring"),
]
SYLLABLES = "ka lo mir ven tha zor qui bel dra os un fen gal rho sti va ne tor ix pel".split()


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


def generate(root: Path, n: int, seed: int = 7) -> list[dict[str, str]]:
    """Write `n` entries under `root`; return their facts (path, name, code, ...)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    facts, used = [], set()
    combos = [(c, f) for c in range(len(CATEGORIES)) for f in range(len(FEATURES))]
    rng.shuffle(combos)
    for i in range(n):
        name = _name(rng)
        while name in used:
            name = _name(rng)
        used.add(name)
        cat, feat = combos[i % len(combos)]
        letters = "BCDFGHKLMNPRSTVXZ"
        code = f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(1000, 9999)}"
        founder, year = f"{_name(rng)} {_name(rng)}", str(rng.randint(1200, 1990))
        filler = " ".join(
            f"In {rng.randint(1200, 1990)} the {CATEGORIES[rng.randrange(10)][0]} council "
            f"discussed {rng.choice(['taxes', 'roads', 'schools', 'trade', 'water', 'grain'])}."
            for _ in range(rng.randint(8, 20))
        )
        text = (
            f"# {name}\n\n{name} is a {CATEGORIES[cat][0]} founded in {year} by {founder}. "
            f"It is best known for {FEATURES[feat][0]}. Its registry code is {code}.\n\n{filler}\n"
        )
        path = root / f"entry_{i:04d}.{'md' if i % 2 else 'txt'}"
        path.write_text(text, encoding="utf-8")
        facts.append(
            {
                "path": str(path.resolve()),
                "name": name,
                "code": code,
                "year": year,
                "founder": founder,
                "feature": FEATURES[feat][1],
                "category": CATEGORIES[cat][1],
            }
        )
    return facts


def queries(
    facts: list[dict[str, str]], per_kind: int, seed: int = 11
) -> dict[str, list[tuple[str, set[str]]]]:
    """Labelled queries: (text, the set of entries that answer it), per kind.

    A paraphrase names a category and a feature; every entry with that pair answers it (with
    400 pairs, about n/400 entries each).
    """
    rng = random.Random(seed)
    sample = rng.sample(facts, min(per_kind, len(facts)))
    by_combo: dict[tuple[str, str], set[str]] = {}
    for f in facts:
        by_combo.setdefault((f["feature"], f["category"]), set()).add(f["path"])
    return {
        "code": [(f"Which entry has registry code {f['code']}?", {f["path"]}) for f in sample],
        "name": [(f"Who founded {f['name']} and when?", {f["path"]}) for f in sample],
        "paraphrase": [
            (
                f"Which {f['category']} is famous for {f['feature']}?",
                by_combo[(f["feature"], f["category"])],
            )
            for f in sample
        ],
    }


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100, help="labelled queries per kind")
    parser.add_argument("--quick", action="store_true", help="100 documents, 10 queries per kind")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.queries = 100, 10
    from memento.memory.embeddings import default_embeddings
    from memento.tools.config import CorpusConfig
    from memento.tools.corpus_index import CorpusIndexer
    from memento.tools.corpus_search import CorpusSearcher

    shutil.rmtree(OUT, ignore_errors=True)
    facts = generate(OUT / "docs", args.docs)
    default_embeddings().embed_query("warm up")  # model load is not indexing time
    config = CorpusConfig(path=OUT / "store")
    indexer = CorpusIndexer(config)
    cold = indexer.index([OUT / "docs"])
    warm = indexer.index([OUT / "docs"])
    default = CorpusSearcher(config)
    textbook = CorpusSearcher(config.model_copy(update={"rrf_k": 60.0}))
    systems = {
        "vector": (default, "vector"),
        "bm25": (default, "bm25"),
        "hybrid RRF k=60": (textbook, "hybrid"),
        f"hybrid RRF k={config.rrf_k:g} (default)": (default, "hybrid"),
    }
    labelled = queries(facts, args.queries)
    latency: dict[str, list[float]] = {name: [] for name in systems}
    quality: dict[tuple[str, str], tuple[float, float]] = {}
    for searcher, mode in systems.values():
        searcher.search("warm up", 5, mode)  # type: ignore[arg-type]
    for kind, items in labelled.items():
        for name, (searcher, mode) in systems.items():
            hits5 = rr = 0.0
            for text, expected in items:
                began = time.perf_counter()
                hits = searcher.search(text, 10, mode)  # type: ignore[arg-type]
                latency[name].append((time.perf_counter() - began) * 1000)
                ranks = [i for i, h in enumerate(hits, 1) if h.source in expected]
                hits5 += bool(ranks) and ranks[0] <= 5
                rr += 1 / ranks[0] if ranks else 0.0
            quality[(kind, name)] = (hits5 / len(items), rr / len(items))

    print(f"## Corpus benchmark ({args.docs} documents, {cold.chunks} chunks, MiniLM on CPU)\n")
    print(_row("indexing", "files", "seconds", "files/s"))
    print("|---|---:|---:|---:|")
    print(
        _row(
            "cold: read, chunk, embed, store",
            cold.indexed,
            f"{cold.seconds:.1f}",
            f"{cold.indexed / cold.seconds:.1f}",
        )
    )
    print(
        _row(
            "again, all unchanged (skipped)",
            warm.unchanged,
            f"{warm.seconds:.2f}",
            f"{warm.unchanged / max(warm.seconds, 1e-9):.0f}",
        )
    )
    print(f"\nincremental pass: {cold.seconds / max(warm.seconds, 1e-9):.0f}x faster than cold\n")
    print(_row("query latency (k=10)", "median ms", "p95 ms", "median vs vector"))
    print("|---|---:|---:|---:|")
    base = statistics.median(latency["vector"])
    for name, values in latency.items():
        ordered = sorted(values)
        med = statistics.median(ordered)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(_row(name, f"{med:.1f}", f"{p95:.1f}", f"{med / base:.2f}x"))
    print("\nrecall@5 / MRR@10 per query set (known answers):\n")
    print(_row("queries (n)", *systems))
    print("|---" * (len(systems) + 1) + "|")
    totals = {name: [0.0, 0.0] for name in systems}
    count = 0
    for kind, items in labelled.items():
        cells = []
        for name in systems:
            r5, mrr = quality[(kind, name)]
            totals[name][0] += r5 * len(items)
            totals[name][1] += mrr * len(items)
            cells.append(f"{r5:.2f} / {mrr:.2f}")
        count += len(items)
        print(_row(f"{kind} ({len(items)})", *cells))
    print(
        _row(
            f"all ({count})", *(f"{t[0] / count:.2f} / {t[1] / count:.2f}" for t in totals.values())
        )
    )
    reproduce = "--quick" if args.quick else f"--docs {args.docs} --queries {args.queries}"
    print(f"\nReproduce: .venv/bin/python benchmarks/corpus_retrieval.py {reproduce}")


if __name__ == "__main__":
    main()
