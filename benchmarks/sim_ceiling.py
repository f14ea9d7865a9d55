"""How far case selection can go in the simulated world: similarity, Q and a family-aware oracle.

Two protocols (`SimConfig.questions`): "repeat" asks the same 50 questions every epoch, "fresh"
asks 50 new ones of the same families each epoch. Policies: no memory, similarity, the Q learner
with each network form ("residual": similarity plus a learned correction; "mlp": towers and an
MLP head), and the oracle. `run` also takes "q-kernel" (kernel episodic control, the library's
default form), which benchmarks/sim_learning.py measures against these baselines.

The oracle is NOT a memory mode: it reads each case's task family (known only to the
simulation) and shows, from the same 16 most similar cases the Q policy re-ranks, the case of
the very same question first, then cases of the same family (positive before negative), then
unrelated ones, and never the surface-similar twin family. It bounds what any learned
selection could reach in this world; every policy runs through the same `run_eval` protocol
as `memento demo`.

Writes only under benchmarks/out/sim_ceiling/. Run from the repository root (about 15 minutes):
    .venv/bin/python benchmarks/sim_ceiling.py --seeds 7,11,3 --questions repeat,fresh
    .venv/bin/python benchmarks/sim_ceiling.py --seeds 1,2,5 --policies similarity,q-mlp,q-mlp@task
    .venv/bin/python benchmarks/sim_ceiling.py --quick    # 1 seed, 2 short epochs (smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memento.graphs.deps import open_learner  # noqa: E402
from memento.memory.case_bank import CaseBank  # noqa: E402
from memento.memory.learning import NullLearner  # noqa: E402
from memento.memory.q.learner import QLearner  # noqa: E402
from memento.memory.records import ScoredCase  # noqa: E402
from memento.memory.selection import CaseSelector  # noqa: E402
from memento.memory.similarity import SimilaritySelector  # noqa: E402
from memento.sim.config import SimConfig  # noqa: E402
from memento.sim.demo import prepare_world  # noqa: E402
from memento.sim.families import parse_task, twin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "sim_ceiling"
POLICIES = ("none", "similarity", "q-residual", "q-mlp", "oracle")
"""No memory, similarity, the Q learner with each network form, and the family oracle.

`--policies` also takes "q-kernel" and a network form on a named case side ("q-mlp@task":
`QConfig.case_side`; without "@" the default, the label side)."""


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


class SelectorOnly(NullLearner):
    """A learner that learns nothing and always gives one fixed selector (similarity, oracle)."""

    def __init__(self, selector: CaseSelector) -> None:
        super().__init__(reason="fixed selector: nothing to learn")
        self._selector = selector

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> CaseSelector:
        """The fixed selector."""
        return self._selector


async def run(
    policy: str, config: SimConfig, world: Any, tool: Any, emb: Any, folder: Path
) -> list:
    """Accuracy per epoch of one selection policy (fresh bank, models and learner)."""
    from memento.eval.run_config import EvalConfig
    from memento.eval.runner import run_eval
    from memento.graphs.context import Context
    from memento.sim.executor import SimExecutorModel
    from memento.sim.planner import SimPlannerModel

    memory = "none" if policy == "none" else "q"
    name = policy.replace("-", "_").replace("@", "_")
    bank = None if policy == "none" else CaseBank(
        path=folder / "banks" / policy, collection=f"sim_{name}",
        embeddings=emb, dedup_threshold=config.dedup_threshold,
    )  # fmt: skip
    learner: Any = None
    if policy.startswith("q-"):
        form, _, side = policy[2:].partition("@")  # "q-mlp@task": that network on that case side
        q_ctx = Context(
            q_form=form, q_seed=config.seed, q_shortlist=max(config.q_shortlist, 1),
            q_exact_below=0 if config.q_shortlist else 10**9, q_lr=config.q_lr,
            q_steps_per_record=config.q_steps_per_record, q_unused_weight=config.q_unused_weight,
            q_share="",
        )  # fmt: skip
        learner = open_learner(q_ctx, bank, folder / policy)
        if side:  # the same learner, its fresh network reading cases as `side` says
            assert isinstance(learner, QLearner)  # a network form
            q_config, settings = replace(learner.network.config, case_side=side), learner.settings
            learner.close()
            learner = QLearner.open(bank, folder / policy, q_config, settings)
    elif policy == "oracle" and bank is not None:
        learner = SelectorOnly(FamilyOracle(bank, config.q_shortlist))
    elif bank is not None:
        learner = SelectorOnly(SimilaritySelector(bank))
    planner = SimPlannerModel.from_config(config)
    executor = SimExecutorModel.from_config(config)
    context = Context(k=config.k, max_cycles=1, tools="corpus_search", selection="q")
    accuracy = []
    for epoch in range(1, config.epochs + 1):
        summary = await run_eval(
            world.eval_tasks(epoch),
            EvalConfig(
                memory=memory, epochs=epoch, first_epoch=epoch, seed=config.seed,  # type: ignore[arg-type]
                concurrency=1, out=folder / "run" / policy, context=context,
            ),  # fmt: skip
            planner=planner, executor=executor, tools=[tool], case_bank=bank, learner=learner,
            progress=False,
        )  # fmt: skip
        accuracy.append(summary.epochs[epoch - 1].accuracy)
    return accuracy


async def main() -> None:
    """Run every policy per protocol and seed; print accuracy per epoch and epochs 2+ summed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,11,3")
    parser.add_argument("--questions", default="repeat,fresh", help="protocols, comma-separated")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument(
        "--quick", action="store_true", help="one seed, 2 short epochs, 3 policies (smoke run)"
    )
    args = parser.parse_args()
    small: dict[str, Any] = {}
    policies = tuple(args.policies.split(","))
    if args.quick:  # a smoke run of the same protocol, not a measurement
        args.seeds, args.questions = "7", "repeat"
        small = {"epochs": 2, "tasks_per_family": 2, "couples": 4}
        policies = ("similarity", "q-residual", "q-residual@task", "oracle")
    rows = []
    began = time.perf_counter()
    for questions in args.questions.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            config = SimConfig(seed=seed, questions=questions, **small)
            folder = OUT / f"{questions}-seed{seed}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            world, tool, emb = prepare_world(config, folder, say=lambda _: None)
            for policy in policies:
                acc = await run(policy, config, world, tool, emb, folder)
                rows.append((questions, seed, policy, acc))
                print(f"{questions} seed {seed} {policy}: {acc}", file=sys.stderr, flush=True)
    shape = f"{small} (--quick)" if small else "`questions`; 50 tasks per epoch"
    print("Selection policies in the simulated world (SIMULATED models; default SimConfig but "
          f"{shape})")  # fmt: skip
    print("| questions | seed | policy | accuracy per epoch (%) | epochs 2+ summed "
          "| vs similarity | vs none |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    later = {(q, s, p): sum(a[1:]) for q, s, p, a in rows}
    for questions, seed, policy, acc in rows:
        mine = later[(questions, seed, policy)]
        cells = " / ".join(f"{100 * a:.0f}" for a in acc)
        ratios = [
            f"{mine / base:.2f}" if (base := later.get((questions, seed, ref))) else "n/a"
            for ref in ("similarity", "none")
        ]
        print(f"| {questions} | {seed} | {policy} | {cells} | {100 * mine:.0f} | "
              + " | ".join(ratios) + " |")  # fmt: skip
    print(f"\n{time.perf_counter() - began:.0f} s")
    print("command: .venv/bin/python benchmarks/sim_ceiling.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
