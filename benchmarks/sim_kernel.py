"""The kernel Q form (kernel episodic control) against no memory and similarity, simulated world.

Runs `memento demo`'s own protocol (`run_demo`: 3 epochs x 50 tasks, default SimConfig but
`seed`, `questions` and `q_form="kernel"`) per protocol and seed, and prints accuracy per epoch
and the mean over epochs 2+ (issue 16, goal 1). The models are SIMULATED (memento.sim).

Writes only under benchmarks/out/sim_kernel/. Run from the repository root (about 3 minutes per
protocol and seed on 2 cores):
    .venv/bin/python benchmarks/sim_kernel.py --seeds 1,2,5,6,8 --questions repeat,fresh
    .venv/bin/python benchmarks/sim_kernel.py --quick   # 1 seed, 2 epochs x 20 tasks (smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memento.sim.config import SimConfig  # noqa: E402
from memento.sim.demo import run_demo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "sim_kernel"
MODES = ("none", "similarity", "q")
"""The demo's memory modes; "q" runs with q_form="kernel"."""


def later_mean(accuracy: list[float]) -> float:
    """Mean accuracy (%) over epochs 2+ (the first epoch starts with an empty bank)."""
    rest = accuracy[1:] or accuracy
    return 100 * sum(rest) / len(rest)


async def main() -> None:
    """Run the demo's modes per protocol and seed; print the table and the command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,5,6,8")
    parser.add_argument("--questions", default="repeat,fresh", help="protocols, comma-separated")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 epochs x 20 tasks (smoke)")
    args = parser.parse_args()
    small: dict[str, Any] = {}
    if args.quick:  # a smoke run of the same protocol, not a measurement
        args.seeds, args.questions = "1", "fresh"
        small = {"epochs": 2, "tasks_per_family": 2, "couples": 4}
    began = time.perf_counter()
    table: dict[tuple[str, str], dict[int, list[float]]] = {}
    for questions in args.questions.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            config = SimConfig(seed=seed, questions=questions, q_form="kernel", **small)
            folder = OUT / f"{questions}-seed{seed}"
            shutil.rmtree(folder, ignore_errors=True)
            result = await run_demo(config, folder, modes=MODES, plot=False, say=lambda _: None)
            for mode in MODES:
                table.setdefault((questions, mode), {})[seed] = result.accuracy[mode]
                print(f"{questions} seed {seed} {mode}: {result.accuracy[mode]}", file=sys.stderr)
    seeds = [int(s) for s in args.seeds.split(",")]
    shape = f"{small} (--quick)" if small else "3 epochs x 50 tasks"
    print(f"Kernel Q in the simulated world (SIMULATED models; default SimConfig but {shape})")
    print("mean accuracy over epochs 2+ (%); per seed, and accuracy per epoch in brackets")
    print("| questions | mode | " + " | ".join(f"seed {s}" for s in seeds) + " | mean "
          "| q - similarity | q - none |")  # fmt: skip
    print("|---|---|" + "---|" * len(seeds) + "---|---|---|")
    for questions in args.questions.split(","):
        means = {
            m: sum(map(later_mean, table[(questions, m)].values())) / len(seeds) for m in MODES
        }
        for mode in MODES:
            runs = table[(questions, mode)]
            cells = [
                f"{later_mean(runs[s]):.1f} ({'/'.join(f'{100 * a:.0f}' for a in runs[s])})"
                for s in seeds
            ]
            gaps = ["", ""]
            if mode == "q":
                gaps = [f"{means['q'] - means[ref]:+.1f}" for ref in ("similarity", "none")]
            name = "q (kernel)" if mode == "q" else mode
            print(f"| {questions} | {name} | " + " | ".join(cells) + f" | {means[mode]:.1f} | "
                  + " | ".join(gaps) + " |")  # fmt: skip
    print(f"\n{time.perf_counter() - began:.0f} s")
    print("command: .venv/bin/python benchmarks/sim_kernel.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
