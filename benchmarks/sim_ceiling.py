"""How far case selection can go in the simulated world: similarity, Q and a family-aware oracle.

The oracle is NOT a memory mode: it reads each case's task family (known only to the simulation)
and shows, from the same 16 most similar cases the Q policy re-ranks, the case of the very same
question first, then cases of the same family (positive before negative), then unrelated ones,
and never the surface-similar twin family. It bounds what any learned selection could reach in
this world; similarity and Q run through exactly the same `run_eval` protocol as `memento demo`.

Writes only under benchmarks/out/sim_ceiling/. Run from the repository root:
    .venv/bin/python benchmarks/sim_ceiling.py --seeds 7,11
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

from memento.memory.case_bank import CaseBank  # noqa: E402
from memento.memory.records import ScoredCase  # noqa: E402
from memento.memory.similarity import SimilaritySelector  # noqa: E402
from memento.sim.config import SimConfig  # noqa: E402
from memento.sim.demo import prepare_world  # noqa: E402
from memento.sim.families import parse_task, twin  # noqa: E402
from memento.sim.qglue import graph_learner  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "sim_ceiling"


class FamilyOracle:
    """Re-ranks the similarity shortlist with the simulation's hidden family labels."""

    def __init__(self, bank: CaseBank, shortlist: int) -> None:
        self.similar = SimilaritySelector(bank)
        self.shortlist = shortlist

    def select(self, task: str, *, k: int = 4, namespace: str | None = None, **_: Any) -> list:
        """Up to k cases: same question, same family, unrelated; never the twin family."""
        found = self.similar.select(task, k=self.shortlist, namespace=namespace)
        parsed = parse_task(task)
        family = parsed[0] if parsed else ""

        def rank(scored: ScoredCase) -> tuple[float, float]:
            case = scored.case
            other = parse_task(case.task)
            kind = other[0] if other else ""
            if " ".join(case.task.split()) == " ".join(task.split()):
                r = 3.0
            elif kind == family:
                r = 2.0 if case.label == "positive" else 1.5
            elif kind == twin(family):
                r = 0.0
            else:
                r = 1.0
            return (-r, -scored.score)

        return sorted(found, key=rank)[:k]


class SelectorOnly:
    """The learner interface with a fixed selector and no learning."""

    def __init__(self, selector: Any) -> None:
        self._selector = selector

    def selector(self, **_: Any) -> Any:
        """The fixed selector."""
        return self._selector

    def record(
        self, task: str, shown: list[str], used: list[str], reward: float, **kw: Any
    ) -> dict:
        """Nothing to learn."""
        return {"key": kw.get("key")}


async def run(
    policy: str, config: SimConfig, world: Any, tool: Any, emb: Any, folder: Path
) -> list:
    """Accuracy per epoch of one selection policy (fresh bank, models and learner)."""
    from memento.eval.runner import EvalConfig, run_eval
    from memento.graphs.context import Context
    from memento.sim.executor import SimExecutorModel
    from memento.sim.planner import SimPlannerModel

    bank = CaseBank(
        path=folder / "banks" / policy, collection=f"sim_{policy}", embeddings=emb,
        dedup_threshold=config.dedup_threshold,
    )  # fmt: skip
    if policy == "q":
        learner: Any = graph_learner(
            bank, folder / "q", "eval-q", seed=config.seed, shortlist=config.q_shortlist,
            steps_per_record=config.q_steps_per_record, lr=config.q_lr,
            unused_weight=config.q_unused_weight, form=config.q_form,
        )  # fmt: skip
    elif policy == "oracle":
        learner = SelectorOnly(FamilyOracle(bank, config.q_shortlist))
    else:
        learner = SelectorOnly(SimilaritySelector(bank))
    planner = SimPlannerModel.from_config(config)
    executor = SimExecutorModel.from_config(config)
    context = Context(k=config.k, max_cycles=1, tools="corpus_search", selection="q")
    accuracy = []
    for epoch in range(1, config.epochs + 1):
        summary = await run_eval(
            world.eval_tasks(),
            EvalConfig(
                memory="q", epochs=epoch, seed=config.seed, concurrency=1,
                out=folder / "run" / policy, context=context,
            ),  # fmt: skip
            planner=planner, executor=executor, tools=[tool], case_bank=bank, learner=learner,
        )  # fmt: skip
        accuracy.append(summary.epochs[epoch - 1].accuracy)
    return accuracy


async def main() -> None:
    """Run the three policies per seed and print accuracy per epoch, and epochs 2+ summed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,11")
    args = parser.parse_args()
    rows = []
    began = time.perf_counter()
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = SimConfig(seed=seed)
        folder = OUT / f"seed{seed}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        world, tool, emb = prepare_world(config, folder, say=lambda _: None)
        for policy in ("similarity", "q", "oracle"):
            acc = await run(policy, config, world, tool, emb, folder)
            rows.append((seed, policy, acc))
            print(f"seed {seed} {policy}: {acc}", file=sys.stderr, flush=True)
    print("Selection policies in the simulated world (SIMULATED models; default SimConfig; "
          "CPU shared with other jobs)")  # fmt: skip
    print("| seed | policy | accuracy per epoch (%) | epochs 2+ summed | ratio to similarity |")
    print("|---|---|---|---|---|")
    base = {s: sum(a[1:]) for s, p, a in rows if p == "similarity"}
    for seed, policy, acc in rows:
        later = sum(acc[1:])
        cells = " / ".join(f"{100 * a:.0f}" for a in acc)
        ratio = later / base[seed] if base[seed] else float("nan")
        print(f"| {seed} | {policy} | {cells} | {100 * later:.0f} | {ratio:.2f} |")
    print(f"\n{time.perf_counter() - began:.0f} s")
    print("command: .venv/bin/python benchmarks/sim_ceiling.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
