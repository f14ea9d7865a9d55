"""Part 1 of benchmarks/q_function.py alone, without the fine-tuned classifier (minutes, not hours).

Prints the AUC table (random, cosine, logistic regression, ours = `memento q train` defaults,
and the kernel estimate's variants) on upstream training_data.jsonl split by query, seeds
0..--seeds-1, the same splits and code as q_function.py. For the classifier's column run
q_function.py with --ft-seeds. Run from the repository root:
    .venv/bin/python benchmarks/q_quality.py --seeds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import q_function as qf  # noqa: E402

from memento.memory.q.pairs import load_pairs  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one seed on 400 rows")
    args = parser.parse_args()
    args.ft_seeds, args.ft_rows, args.ft_epochs = 0, 5600, 1
    rows = None
    if args.quick:
        args.seeds, rows = 1, 400
    upstream = upstream_or_skip(qf.ROOT, "training_data.jsonl")
    command = "  ".join([".venv/bin/python benchmarks/q_quality.py", *sys.argv[1:]])
    started = time.perf_counter()
    embed = qf.minilm_cached(qf.OUT / "embed_cache.npz")
    pairs = load_pairs(upstream / "training_data.jsonl")[:rows]
    results, facts = qf.quality(pairs, embed, args)
    print(f"Reproduce: `{command}`")
    print()
    wall = (time.perf_counter() - started) / 60
    print(
        f"Wall time {wall:.1f} min; ours {np.mean(facts['ours_seconds']):.1f} s per training run."
    )
    print()
    print("| policy | seeds | AUC mean | AUC std | per seed |")
    print("|---|---|---|---|---|")
    for key, v in results.items():
        if v:
            print(
                f"| {key} | {len(v)} | {np.mean(v):.3f} | {np.std(v):.3f} | {' '.join(f'{x:.3f}' for x in v)} |"  # noqa: E501
            )


if __name__ == "__main__":
    main()
