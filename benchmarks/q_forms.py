"""Q network forms side by side: AUC on the upstream log, split by query (same rule as q_function).

Compares `QConfig(form="mlp")` (the default) with `QConfig(form="residual")` (similarity plus a
learned bilinear correction, the `memento demo` setting) and plain cosine(query, case), on the
same by-query splits and seeds, so a change of form can be checked for lost ranking quality.

Writes only under benchmarks/out/q_forms/. Run from the repository root:
    .venv/bin/python benchmarks/q_forms.py --seeds 3
    .venv/bin/python benchmarks/q_forms.py --quick     # 1 seed on 300 rows (smoke run)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from q_function import minilm_cached  # noqa: E402

from memento.memory.q.network import QConfig  # noqa: E402
from memento.memory.q.offline import roc_auc, train_on_pairs  # noqa: E402
from memento.memory.q.pairs import load_pairs, split_by_query  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "q_forms"


def main() -> None:
    """Train both forms per seed and print the AUC table with ratios to the default form."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None, help="only the first N training rows")
    parser.add_argument("--quick", action="store_true", help="1 seed, 300 rows (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.rows = 1, 300
    upstream = upstream_or_skip(ROOT, "training_data.jsonl")
    OUT.mkdir(parents=True, exist_ok=True)
    cache = OUT / "embed_cache.npz"
    shared = ROOT / "benchmarks" / "out" / "q_function" / "embed_cache.npz"
    if not cache.exists() and shared.exists():
        shutil.copyfile(shared, cache)
    embed = minilm_cached(cache)
    pairs = load_pairs(upstream / "training_data.jsonl")[: args.rows]
    auc: dict[str, list[float]] = {"cosine": [], "mlp": [], "residual": []}
    seconds: dict[str, list[float]] = {"mlp": [], "residual": []}
    for seed in range(args.seeds):
        _, test = split_by_query(pairs, holdout=0.2, seed=seed)
        q = embed([p.query for p in test])
        c = embed([p.case for p in test])
        auc["cosine"].append(roc_auc(np.array([p.reward for p in test]), (q * c).sum(axis=1)))
        for form in ("mlp", "residual"):
            began = time.perf_counter()
            config = QConfig(seed=seed, form=form)
            _, report = train_on_pairs(pairs, embed, holdout=0.2, seed=seed, config=config)
            auc[form].append(report["auc"])
            seconds[form].append(time.perf_counter() - began)
    base = statistics.mean(auc["mlp"])
    print(f"Q network forms, upstream log ({len(pairs)} rows), by-query holdout 0.2, "
          f"{args.seeds} seeds (CPU shared with other jobs)")  # fmt: skip
    print("| scorer | AUC mean | AUC min | AUC max | ratio to mlp | train s |")
    print("|---|---|---|---|---|---|")
    for name, values in auc.items():
        secs = f"{statistics.mean(seconds[name]):.1f}" if name in seconds else "-"
        print(
            f"| {name} | {statistics.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} "
            f"| {statistics.mean(values) / base:.3f} | {secs} |"
        )
    print("\ncommand: .venv/bin/python benchmarks/q_forms.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
