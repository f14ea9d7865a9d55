"""What case selection learns in the simulated world: none, similarity, Q (kernel) and the oracle.

Issue 16's goals 1 and 4, side by side from one run. Both protocols (`SimConfig.questions`):
"repeat" asks the same questions every epoch, "fresh" asks new questions of the same families
each epoch. Policies, each through `run_eval` exactly as `benchmarks/sim_ceiling.py` runs them
(its `run`, sharing one prepared world per protocol and seed): no memory, similarity, the Q
learner in the library's default form (`open_learner(Context(q_form="kernel", ...))`: kernel
episodic control, `memento.memory.q.kernel`) and the family oracle (it alone reads the
simulation's hidden task families; it bounds what selection could reach). The models are
SIMULATED (memento.sim).

Printed: (1) mean accuracy over epochs 2-3 per seed, the mean over seeds with a 95% t-interval
over seeds, q - similarity and q - none paired by seed, q as a fraction of the oracle, and
pass/fail against goal 1's targets; (2) accuracy per epoch per policy, and how many tasks each
policy needs before its accuracy over the last 50 tasks reaches 80% of the oracle's last-epoch
accuracy (goal 4). Exits non-zero if any accuracy is nan.

Writes only under benchmarks/out/sim_learning/. Run from the repository root (2 busy cores:
goal 1 about 9 minutes, goal 4 about 35, the smoke run about a minute):
    .venv/bin/python benchmarks/sim_learning.py                          # goal 1: 3 seeds
    .venv/bin/python benchmarks/sim_learning.py --seeds 1 --epochs 6 --tasks 200   # goal 4
    .venv/bin/python benchmarks/sim_learning.py --quick   # 1 seed, 2 short epochs (smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark sim_ceiling

from sim_ceiling import prepare_world, run  # noqa: E402

from memento.eval.results import read_results  # noqa: E402
from memento.sim.config import SimConfig  # noqa: E402
from memento.sim.world import World  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "sim_learning"
POLICIES = ("none", "similarity", "q-kernel", "oracle")
"""`sim_ceiling.run` policy names: no memory, similarity, Q in the default form, the oracle."""
NAMES = {"q-kernel": "q (kernel, default)"}
Q = "q-kernel"
TARGETS = {"repeat": {"similarity": 3.0, "none": 15.0}, "fresh": {"similarity": 10.0, "none": 10.0}}
"""Goal 1: q must beat each baseline's mean over epochs 2-3 by this many points."""
WINDOW = 50
"""Trailing window (tasks) of the tasks-to-80%-of-oracle measure."""


@dataclass
class Outcome:
    """One policy's run for one protocol and seed."""

    questions: str
    seed: int
    policy: str
    accuracy: list[float]
    """Per epoch, as `run_eval` scored it."""
    correct: list[list[bool]]
    """Per epoch, per scored task in run order (results.jsonl; rows with an error left out)."""
    seconds: float
    couples: int


def t975(df: int) -> float:
    """Two-sided 95% quantile of Student's t (scipy, installed with sentence-transformers)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over the values (nan bounds for fewer than two)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, math.nan, math.nan
    half = t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a proportion (nan for n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p, zz = hits / n, z * z
    centre = (p + zz / (2 * n)) / (1 + zz / n)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n * n)) / (1 + zz / n)
    return centre - half, centre + half


def later(accuracy: list[float]) -> float:
    """Mean accuracy (%) over epochs 2-3 (goal 1's measure; epoch 2 alone in a 2-epoch run)."""
    rest = accuracy[1:3] or accuracy
    return 100 * sum(rest) / len(rest)


def reach(correct: list[bool], target: float, window: int) -> tuple[int | None, int | None]:
    """When the trailing-window accuracy first reaches `target`, and from when it stays there.

    Both count tasks run (None: never); "stays" means to the end of the run.
    """
    first = holds = None
    hits = sum(correct[:window])
    for t in range(window, len(correct) + 1):
        if t > window:
            hits += correct[t - 1] - correct[t - 1 - window]
        if hits / window >= target:
            first = first or t
            holds = holds or t
        else:
            holds = None
    return first, holds


def fit_world(config: SimConfig) -> SimConfig:
    """`config`, with `couples` raised just enough for the world to hold the tasks asked."""
    start = config.couples
    while True:
        try:
            World(config)
            return config
        except ValueError as exc:
            if "possible" not in str(exc) or config.couples >= 8 * start:
                raise
            config = config.with_(couples=config.couples + 1)


def fmt(x: float, digits: int = 1, sign: bool = False) -> str:
    """A number, or 'nan' (which the smoke check and the exit status catch)."""
    return "nan" if math.isnan(x) else f"{x:{'+' if sign else ''}.{digits}f}"


def interval(low: float, high: float, digits: int = 1) -> str:
    return "[n/a]" if math.isnan(low) else f"[{low:.{digits}f}, {high:.{digits}f}]"


def goal1(rows: list[Outcome], protocols: list[str], seeds: list[int], shape_ok: bool) -> None:
    """Goal 1's tables: epochs 2-3 per seed and over seeds; q's gaps, oracle fraction, targets."""
    got = {(o.questions, o.seed, o.policy): o for o in rows}
    policies = list(dict.fromkeys(o.policy for o in rows))
    epochs = len(rows[0].accuracy)
    span = "epochs 2-3" if epochs >= 3 else "epoch 2"
    print(f"\nGoal 1: mean accuracy over {span} (%) per seed (accuracy per epoch in brackets); "
          f"mean over {len(seeds)} seed(s) with a 95% t-interval over seeds")  # fmt: skip
    print("| questions | policy | " + " | ".join(f"seed {s}" for s in seeds) + " | mean [95% CI] |")
    print("|---|---|" + "---|" * len(seeds) + "---|")
    for q in protocols:
        for p in policies:
            runs = [got[(q, s, p)] for s in seeds]
            cells = [f"{fmt(later(o.accuracy))} ({'/'.join(fmt(100 * a, 0) for a in o.accuracy)})"
                     for o in runs]  # fmt: skip
            m, lo, hi = mean_ci([later(o.accuracy) for o in runs])
            print(f"| {q} | {NAMES.get(p, p)} | " + " | ".join(cells)
                  + f" | {fmt(m)} {interval(lo, hi)} |")  # fmt: skip
    if Q not in policies:
        return
    verdicts = "goal 1's shape" if shape_ok else "NOT goal 1's shape (indicative only)"
    print(
        f"\nq against the others, paired by seed ({span}, points; {verdicts}: goal 1 asks "
        "3 epochs x 50 tasks, default world, >= 3 seeds; pass = the mean meets the target)"
    )
    print("| questions | measure | " + " | ".join(f"seed {s}" for s in seeds)
          + " | mean [95% CI] | target | verdict | CI low meets it |")  # fmt: skip
    print("|---|---|" + "---|" * len(seeds) + "---|---|---|---|")
    for q in protocols:
        mine = [later(got[(q, s, Q)].accuracy) for s in seeds]
        for ref in ("similarity", "none"):
            if ref not in policies:
                continue
            gaps = [a - later(got[(q, s, ref)].accuracy) for a, s in zip(mine, seeds, strict=True)]
            m, lo, hi = mean_ci(gaps)
            goal = TARGETS[q][ref]
            verdict = "pass" if m >= goal else f"FAIL (short by {goal - m:.1f})"
            clears = "n/a" if math.isnan(lo) else ("yes" if lo >= goal else "no")
            print(f"| {q} | q - {ref} | " + " | ".join(fmt(g, sign=True) for g in gaps)
                  + f" | {fmt(m, sign=True)} {interval(lo, hi)} | >= +{goal:.0f} | {verdict} "
                  f"| {clears} |")  # fmt: skip
        if "oracle" in policies:
            ratios = []
            for a, s in zip(mine, seeds, strict=True):
                top = later(got[(q, s, "oracle")].accuracy)
                ratios.append(a / top if top else math.nan)
            m, lo, hi = mean_ci(ratios)
            print(f"| {q} | q / oracle | " + " | ".join(fmt(r, 2) for r in ratios)
                  + f" | {fmt(m, 2)} {interval(lo, hi, 2)} | report | | |")  # fmt: skip


def goal4(rows: list[Outcome], protocols: list[str], seeds: list[int], window: int) -> None:
    """Goal 4's tables: accuracy per epoch per policy; tasks to 80% of the oracle's accuracy."""
    got = {(o.questions, o.seed, o.policy): o for o in rows}
    policies = list(dict.fromkeys(o.policy for o in rows))
    epochs = len(rows[0].accuracy)
    how = ("Wilson 95% interval over the epoch's tasks" if len(seeds) == 1
           else f"mean over {len(seeds)} seeds, 95% t-interval over seeds")  # fmt: skip
    print(f"\nGoal 4: accuracy per epoch (%; {how})")
    print("| questions | policy | " + " | ".join(f"epoch {e}" for e in range(1, epochs + 1)) + " |")
    print("|---|---|" + "---|" * epochs)
    for q in protocols:
        for p in policies:
            cells = []
            for e in range(epochs):
                runs = [got[(q, s, p)] for s in seeds]
                if len(seeds) == 1:
                    marks = runs[0].correct[e]
                    lo, hi = wilson(sum(marks), len(marks))
                    cells.append(f"{fmt(100 * runs[0].accuracy[e])} "
                                 f"{interval(100 * lo, 100 * hi, 0)}")  # fmt: skip
                else:
                    m, lo, hi = mean_ci([100 * o.accuracy[e] for o in runs])
                    cells.append(f"{fmt(m)} {interval(lo, hi, 0)}")
            print(f"| {q} | {NAMES.get(p, p)} | " + " | ".join(cells) + " |")
    if "oracle" not in policies:
        return
    print(f"\nTasks to 80% of the oracle: the target is 80% of the oracle's accuracy in its last "
          f"epoch; a cell is the number of tasks the policy has run (from the first task of "
          f"epoch 1, all epochs in order) when its accuracy over the last {window} tasks first "
          f"reaches the target, and in brackets from when it stays at or above it to the end "
          f"('never': not within the run's {epochs} epochs)")  # fmt: skip
    print("| questions | seed | oracle last epoch (%) | target (%) | "
          + " | ".join(NAMES.get(p, p) for p in policies) + " |")  # fmt: skip
    print("|---|---|---|---|" + "---|" * len(policies))
    for q in protocols:
        for s in seeds:
            top = got[(q, s, "oracle")].accuracy[-1]
            cells = []
            for p in policies:
                flat = [c for epoch in got[(q, s, p)].correct for c in epoch]
                first, holds = reach(flat, 0.8 * top, window)
                cells.append(f"{first or 'never'} ({holds or 'never'})")
            print(f"| {q} | {s} | {fmt(100 * top)} | {fmt(80 * top)} | " + " | ".join(cells)
                  + " |")  # fmt: skip


async def main() -> None:
    """Run every policy per protocol and seed; print goal 1's and goal 4's tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,5", help="comma-separated (tests use seed 7)")
    parser.add_argument("--questions", default="repeat,fresh", help="protocols, comma-separated")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (goal 4: 6)")
    parser.add_argument("--tasks", type=int, default=50, help="tasks per epoch (goal 4: 200)")
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 2 epochs x 20 tasks (smoke run)"
    )
    args = parser.parse_args()
    base = SimConfig()
    per_family = len(base.families) * (2 if base.distractors else 1)
    if args.tasks % per_family or args.epochs < 2:
        parser.error(f"--tasks must be a multiple of {per_family} and --epochs at least 2")
    knobs: dict[str, Any] = {"epochs": args.epochs, "tasks_per_family": args.tasks // per_family}
    tag = f"e{args.epochs}x{args.tasks}"
    if args.quick:  # a smoke run of the same protocol, not a measurement
        args.seeds = "1"
        knobs = {"epochs": 2, "tasks_per_family": 2, "couples": 4}
        tag = "quick"
    seeds = [int(s) for s in args.seeds.split(",")]
    protocols = args.questions.split(",")
    began = time.perf_counter()
    rows: list[Outcome] = []
    raised: dict[str, str] = {}
    for questions in protocols:
        for seed in seeds:
            asked = SimConfig(seed=seed, questions=questions, q_form="kernel", **knobs)
            config = fit_world(asked)
            if config.couples != asked.couples:
                raised[f"{questions} seed {seed}"] = f"{asked.couples} -> {config.couples}"
            folder = OUT / f"{tag}-{questions}-seed{seed}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            world, tool, emb = prepare_world(config, folder, say=lambda _: None)
            for policy in POLICIES:
                start = time.perf_counter()
                accuracy = await run(policy, config, world, tool, emb, folder)
                scored = sorted(  # stable: run order within each epoch
                    (r for r in read_results(folder / "run" / policy) if r.error is None),
                    key=lambda r: r.epoch,
                )
                correct = [[r.correct for r in scored if r.epoch == e]
                           for e in range(1, config.epochs + 1)]  # fmt: skip
                seconds = time.perf_counter() - start
                rows.append(Outcome(questions, seed, policy, accuracy, correct, seconds,
                                    config.couples))  # fmt: skip
                print(f"{questions} seed {seed} {policy}: {[round(a, 3) for a in accuracy]} "
                      f"({seconds:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
    wall = time.perf_counter() - began
    tasks = 2 * per_family if args.quick else args.tasks
    print(f"Case selection in the simulated world (SIMULATED models; default SimConfig but "
          f"{knobs}{' (--quick)' if args.quick else ''}: {tasks} tasks per epoch; the q column "
          'is open_learner(Context(q_form="kernel")), the library default)')  # fmt: skip
    if raised:
        print("World size: the world cannot produce the questions asked with the couples "
              "asked, so couples was raised to the least that can (nothing else changed): "
              + ", ".join(f"{k}: {v}" for k, v in raised.items()))  # fmt: skip
    shape_ok = (not args.quick and args.epochs == 3 and args.tasks == 50 and len(seeds) >= 3
                and not raised)  # fmt: skip
    goal1(rows, protocols, seeds, shape_ok)
    goal4(rows, protocols, seeds, min(WINDOW, tasks))
    spent: dict[str, float] = {}
    for o in rows:
        spent[o.policy] = spent.get(o.policy, 0.0) + o.seconds
    print("\nwall time per policy (s, all protocols and seeds): "
          + ", ".join(f"{NAMES.get(p, p)} {s:.0f}" for p, s in spent.items()))  # fmt: skip
    print(f"wall time: {wall:.0f} s")
    print("command: .venv/bin/python benchmarks/sim_learning.py " + " ".join(sys.argv[1:]))
    (OUT / f"{tag}-results.json").write_text(
        json.dumps({"argv": sys.argv[1:], "seconds": wall, "rows": [asdict(o) for o in rows]})
    )
    bad = [f"{o.questions} seed {o.seed} {o.policy}" for o in rows
           if any(math.isnan(a) for a in o.accuracy)]  # fmt: skip
    if bad:
        print(f"nan accuracy (no scored rows) in: {', '.join(bad)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
