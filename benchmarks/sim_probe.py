"""Can the MiniLM task vectors tell a family from its twin? A linear probe, per family pair.

The twins word the same people in another order ("the father of X's spouse" / "the spouse of
X's father"). A logistic regression on the task vectors is trained on the questions about n
people (both twins each) and tested on 15 other people, so a high held-out accuracy means the
embeddings carry the family and the Q learner's limit lies elsewhere (its data and credit).

Writes nothing. Run from the repository root (about 30 s):
    .venv/bin/python benchmarks/sim_probe.py --seed 7
    .venv/bin/python benchmarks/sim_probe.py --quick     # the first family only (smoke run)
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from memento.memory.embeddings import default_embeddings  # noqa: E402
from memento.sim.config import SimConfig  # noqa: E402
from memento.sim.families import twin  # noqa: E402
from memento.sim.world import World  # noqa: E402

PEOPLE = (5, 10, 25)
"""People (each asked both twin questions) in the probe's training set."""
HELD_OUT = 15


def probe(x: torch.Tensor, y: torch.Tensor, train: list[int], test: list[int]) -> float:
    """Held-out accuracy of an L2-regularised logistic regression fitted with L-BFGS."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = linear(x[train]).squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[train])
        loss = loss + 1e-4 * linear.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        predicted = (linear(x[test]).squeeze(-1) > 0).float()
    return float((predicted == y[test]).float().mean())


def main() -> None:
    """Print held-out probe accuracy per base family and training size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="the first family only (smoke run)")
    args = parser.parse_args()
    world = World(SimConfig(seed=args.seed, questions="fresh", epochs=5, couples=12))
    embeddings = default_embeddings()
    print(f"Linear probe: family vs its twin from MiniLM task vectors (seed {args.seed}, "
          f"{HELD_OUT} held-out people)")  # fmt: skip
    print("| family | " + " | ".join(f"{n} people ({2 * n} questions)" for n in PEOPLE) + " |")
    print("|---|" + "---|" * len(PEOPLE))
    families = world.config.families[:1] if args.quick else world.config.families
    for base in families:
        tasks = [t for t in world.tasks if t.family in (base, twin(base))]
        vectors = embeddings.embed_documents([t.question for t in tasks])
        x = torch.tensor(np.array(vectors), dtype=torch.float32)
        y = torch.tensor([1.0 if t.family == base else 0.0 for t in tasks])
        people = sorted({tuple(sorted(t.slots.items())) for t in tasks})
        key = [tuple(sorted(t.slots.items())) for t in tasks]
        test_people = set(people[-HELD_OUT:])
        test = [i for i, k in enumerate(key) if k in test_people]
        cells = []
        for n in PEOPLE:
            train_people = set(people[:n])
            train = [i for i, k in enumerate(key) if k in train_people]
            cells.append(f"{100 * probe(x, y, train, test):.0f}%")
        print(f"| {base} vs {twin(base)} | " + " | ".join(cells) + " |")
    print("command: .venv/bin/python benchmarks/sim_probe.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
