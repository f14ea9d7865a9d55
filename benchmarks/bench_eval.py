"""Throughput of the evaluation harness pieces that do not need the graph, at full upstream scale.

Loads the 3,197 upstream DeepResearcher questions, scores synthetic predictions with both metric
families, appends a full 3-mode x 3-epoch results.jsonl (28,773 rows, fsync per row), reads it
back for resume keys, and builds the report. Prints a Markdown table and the reproducing command.
Writes only under benchmarks/out/.

    .venv/bin/python benchmarks/bench_eval.py [--epochs 3] [--modes none,similarity,q]
    .venv/bin/python benchmarks/bench_eval.py --quick    # 300 questions, 1 epoch (smoke run)
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

from memento.eval.datasets import Task, load_dataset
from memento.eval.report import build_report
from memento.eval.results import (
    ResultRow,
    ResultsWriter,
    RunManifest,
    finished_keys,
    write_manifest,
)
from memento.scoring.metrics import score
from memento.testing.bench import upstream_or_skip

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "bench_eval"


def _prediction(rng: random.Random, answers: list[str], p_right: float) -> str:
    if rng.random() < p_right:
        return rng.choice(answers)
    return rng.choice([f"{answers[0]} maybe", "unknown", answers[0].split(" ")[0], ""])


def _write_run(
    folder: Path, tasks: list[Task], modes: list[str], epochs: int, *, fsync: bool
) -> int:
    rng = random.Random(1)
    n_rows = 0
    with ResultsWriter(folder, fsync=fsync) as writer:
        for m, memory in enumerate(modes):
            for epoch in range(1, epochs + 1):
                p_right = 0.3 + 0.05 * m * epoch
                for task in tasks:
                    pred = _prediction(rng, task.ground_truth, p_right)
                    s = score(pred, task.ground_truth)
                    writer.append(
                        ResultRow(
                            task_id=task.task_id,
                            epoch=epoch,
                            memory=memory,
                            data_source=task.data_source,
                            question=task.question,
                            prediction=pred,
                            ground_truth=task.ground_truth,
                            em=s.em,
                            f1=s.f1,
                            pm=s.pm,
                            reward=s.em,
                            seconds=0.0,
                            input_tokens=500,
                            output_tokens=40,
                        )  # fmt: skip
                    )
                    n_rows += 1
    return n_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--modes", default="none,similarity,q")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--quick", action="store_true", help="300 questions, 1 epoch (smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.epochs = 300, 1
    upstream = upstream_or_skip(ROOT, "deepresearcher.jsonl") / "deepresearcher.jsonl"
    modes = args.modes.split(",")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    timings: list[tuple[str, int, float]] = []

    t0 = time.perf_counter()
    data = load_dataset(upstream, limit=args.limit)
    timings.append(("load dataset", len(data.tasks), time.perf_counter() - t0))

    rng = random.Random(0)
    preds = [_prediction(rng, t.ground_truth, 0.4) for t in data.tasks]
    for family in ("deepresearcher", "squad"):
        t0 = time.perf_counter()
        for task, pred in zip(data.tasks, preds, strict=True):
            score(pred, task.ground_truth, family)  # type: ignore[arg-type]
        timings.append((f"score ({family})", len(preds), time.perf_counter() - t0))

    run = OUT / "run"
    for fsync in (False, True):
        target = run if fsync else OUT / "run-nofsync"
        t0 = time.perf_counter()
        n_rows = _write_run(target, data.tasks, modes, args.epochs, fsync=fsync)
        label = "append rows (flush + fsync each)" if fsync else "append rows (flush only)"
        timings.append((label, n_rows, time.perf_counter() - t0))
    write_manifest(run, RunManifest(dataset=str(upstream), model="synthetic", epochs=args.epochs))

    t0 = time.perf_counter()
    keys = finished_keys(run)
    timings.append(("read + finished_keys", len(keys), time.perf_counter() - t0))

    t0 = time.perf_counter()
    build_report([run], OUT / "report")
    timings.append(("build report (MD + 4 plots)", n_rows, time.perf_counter() - t0))

    print("| step | items | seconds | items/s | ms/item |")
    print("|---|---|---|---|---|")
    for name, items, secs in timings:
        print(
            f"| {name} | {items:,} | {secs:.2f} | {items / secs:,.0f} | {1e3 * secs / items:.3f} |"
        )
    by_name = {name: secs for name, _, secs in timings}
    ratio = by_name["append rows (flush + fsync each)"] / by_name["append rows (flush only)"]
    print(f"\nfsync per row costs {ratio:.1f}x flush-only appends on this disk.\n")
    given = "--quick" if args.quick else f"--epochs {args.epochs} --modes {args.modes}"
    if args.limit and not args.quick:
        given += f" --limit {args.limit}"
    print(f"Command: .venv/bin/python benchmarks/bench_eval.py {given}")
    print(f"Report: {OUT / 'report' / 'report.md'}")


if __name__ == "__main__":
    main()
