"""AUC of `memento q train` with one setting changed, side by side, on chosen by-query splits.

The research bench behind the library's tuned-Q defaults: each variant is the library's own
training (`train_on_pairs(..., tune_encoder=True)`, what `memento q train` runs) with QConfig
fields overridden (e.g. case_side=task: the case's task vector; the default, label, reads
"[CASE] task [LABEL] label"), or with one of two settings outside QConfig:
    queries_per_step=N   tasks per optimisation step (`memento.memory.q.tune.QUERIES_PER_STEP`)
    case_side=plan_label the case read as "[CASE] task [PLAN] plan [LABEL] label" (bench only:
                         the bank caches no plan reading); upstream's classifier reads the plan
Choose settings on splits 5-9 (the default) and report on 0-4 with q_function.py, so that the
splits a default is judged on never chose it. `--classifier` adds the upstream-style fine-tuned
pair classifier (q_function.py's, all training rows, one epoch: ~9 min a split on 2 cores) on
the same splits, to compare on splits beyond q_function.py's 0-4. Run from the repository root:
    .venv/bin/python benchmarks/q_variants.py --variants "base:;hidden64:hidden=64"
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import q_function as qf  # noqa: E402

from memento.memory.q import tune  # noqa: E402
from memento.memory.q.network import QConfig  # noqa: E402
from memento.memory.q.offline import train_on_pairs  # noqa: E402
from memento.memory.q.pairs import Pair, load_pairs, split_by_query  # noqa: E402
from memento.testing.bench import upstream_or_skip  # noqa: E402

PLAN_LABEL = "plan_label"


def parse_variants(spec: str) -> dict[str, dict[str, str]]:
    """'name:key=value,key=value;name2:' -> {name: {key: value}} (values still text)."""
    out: dict[str, dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, _, settings = part.partition(":")
        pairs = [item.split("=", 1) for item in filter(None, settings.split(","))]
        if not name or any(len(p) != 2 for p in pairs):
            raise SystemExit(f"--variants: cannot read {part!r} (want name:key=value,...)")
        out[name] = dict((k.strip(), v.strip()) for k, v in pairs)
    return out


def config_of(seed: int, settings: dict[str, str]) -> QConfig:
    """The default QConfig for `seed` with the QConfig fields of `settings` overridden."""
    base = QConfig(seed=seed).to_dict()
    for key, text in settings.items():
        if key == "queries_per_step":
            continue
        if key == "case_side" and text == PLAN_LABEL:  # the pairs carry it: read them as tasks
            text = "task"
        if key not in base:
            raise SystemExit(f"--variants: {key!r} is not a QConfig field")
        base[key] = type(base[key])(text)
    return QConfig.from_dict(base)


def with_plans(pairs: list[Pair]) -> list[Pair]:
    """Pairs whose case text also holds the case's plan ("[CASE] task [PLAN] plan [LABEL] ...")."""

    def text(p: Pair) -> str:
        return f"[CASE] {p.case} [PLAN] {p.plan} [LABEL] {p.case_label}"

    return [dataclasses.replace(p, case=text(p)) for p in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants",
        default="base:",
        help="'name:key=value,...;name2:...' (an empty setting list: the defaults)",
    )
    parser.add_argument("--seeds", default="5,6,7,8,9", help="split seeds, comma-separated")
    parser.add_argument(
        "--classifier",
        action="store_true",
        help="add the upstream-style classifier on the same splits (~9 min a split)",
    )
    parser.add_argument("--quick", action="store_true", help="one seed on 400 rows")
    args = parser.parse_args()
    variants = parse_variants(args.variants)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = None
    if args.quick:
        seeds, rows = seeds[:1], 400
    upstream = upstream_or_skip(qf.ROOT, "training_data.jsonl")
    command = shlex.join([".venv/bin/python", "benchmarks/q_variants.py", *sys.argv[1:]])
    embed = qf.minilm_cached(qf.OUT / "embed_cache.npz")
    pairs = load_pairs(upstream / "training_data.jsonl")[:rows]
    default_steps = tune.QUERIES_PER_STEP
    results: list[tuple[str, str, list[float], float]] = []  # name, settings shown, AUCs, s
    for name, settings in variants.items():
        tune.QUERIES_PER_STEP = int(settings.get("queries_per_step", default_steps))
        data = with_plans(pairs) if settings.get("case_side") == PLAN_LABEL else pairs
        aucs: list[float] = []
        started = time.perf_counter()
        for seed in seeds:
            config = config_of(seed, settings)
            report: dict[str, Any]
            _, report = train_on_pairs(
                data, embed, holdout=0.2, seed=seed, config=config, tune_encoder=True
            )
            aucs.append(report["auc"])
            print(f"  {name} seed {seed}: AUC {aucs[-1]:.4f}", file=sys.stderr, flush=True)
        shown = ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
        results.append((name, shown, aucs, time.perf_counter() - started))
    tune.QUERIES_PER_STEP = default_steps
    if args.classifier:
        aucs, started = [], time.perf_counter()
        for seed in seeds:
            train, test = split_by_query(pairs, holdout=0.2, seed=seed)
            aucs.append(qf.upstream_style(train, test, seed, len(train), 1)[0])
            print(f"  classifier seed {seed}: AUC {aucs[-1]:.4f}", file=sys.stderr, flush=True)
        label = "upstream-style pair classifier (all training rows, 1 epoch)"
        shown = "q_function.py's `upstream_style`"
        results.append((label, shown, aucs, time.perf_counter() - started))
    print(f"Reproduce: `{command}`")
    print()
    print("`memento q train` variants, upstream training_data.jsonl split by query (holdout 0.2)")
    print()
    print("| variant | settings | AUC mean | AUC std | per seed | seconds |")
    print("|---|---|---|---|---|---|")
    for name, shown, aucs, secs in results:
        per = " ".join(f"{a:.3f}" for a in aucs)
        print(
            f"| {name} | {shown} | {np.mean(aucs):.4f} | {np.std(aucs):.3f} | {per} | {secs:.0f} |"
        )
    print()
    print(
        f"Seeds {', '.join(map(str, seeds))}; each variant row is the library's training with its"
        " settings" + ("; the classifier's row is q_function.py's." if args.classifier else ".")
    )


if __name__ == "__main__":
    main()
