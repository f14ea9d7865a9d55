"""Connects the `QLearner` to the graph's learner interface, with the demo's settings.

The graph's update_q node calls `learner.record(task, shown, used, reward, key=...)` and the
graph's dependencies ask `learner.selector(greedy=..., temperature=...)` for the Q read policy.
`GraphQLearner` offers both over a `QLearner`: transitions go to its online update, and the
selector re-ranks a similarity shortlist by the learner's live network (no re-encoding).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


class GraphQLearner:
    """A `QLearner` seen through the interface the graph's nodes call."""

    def __init__(self, learner: Any, namespace: str, shortlist: int = 16) -> None:
        """Wrap `learner`; transitions are recorded under `namespace`.

        Args:
            learner: A `memento.memory.q_learner.QLearner`.
            namespace: Case-bank namespace of the transitions.
            shortlist: Most similar cases re-ranked by Q (0: score every case).
        """
        self.learner = learner
        self.namespace = namespace
        self.shortlist = shortlist

    def record(
        self,
        task: str,
        shown: list[str],
        used: list[str],
        reward: float,
        *,
        key: str,
        namespace: str | None = None,
        relabel: bool = False,
    ) -> dict[str, Any]:
        """Record the transition (in this demo's namespace) and take the update steps."""
        report = self.learner.record(
            task, shown, used, reward, namespace=self.namespace, key=key, relabel=relabel
        )
        if dataclasses.is_dataclass(report) and not isinstance(report, type):
            out: dict[str, Any] = dataclasses.asdict(report)
        else:
            out = dict(report)
        out["key"] = key
        return out

    def selector(self, *, greedy: bool = True, temperature: float = 1.0) -> Any:
        """The Q read policy over the learner's bank, using its live network.

        The learner keeps one selector per policy (its sampling stream goes on from task to
        task), reading the bank afresh on every query.
        """
        return self.learner.selector(
            greedy=greedy,
            temperature=temperature if not greedy else 0.1,
            shortlist=max(self.shortlist, 1),
            exact_below=0 if self.shortlist else 10**9,
        )


def graph_learner(
    bank: Any,
    folder: Path,
    namespace: str,
    *,
    seed: int,
    shortlist: int = 16,
    steps_per_record: int = 4,
    lr: float = 1e-3,
    unused_weight: float = 0.0,
    save_every: int = 50,
    form: str = "residual",
) -> GraphQLearner:
    """A fresh Q learner for `bank` with its checkpoint in `folder`, ready for the graph.

    The defaults are `SimConfig`'s: the residual network form, 4 update steps per task, and no
    loss on shown cases the planner did not use (it reports what it used).

    Args:
        bank: The case bank the learner scores.
        folder: Checkpoint and replay folder.
        namespace: Case-bank namespace of the transitions.
        seed: Seed of the network and its sampling.
        shortlist: Most similar cases re-ranked by Q (0: every case).
        steps_per_record: Update steps after each finished task.
        lr: Learning rate.
        unused_weight: Loss weight of shown cases the planner did not use.
        save_every: Checkpoint every this many updates (the demo needs no per-step files).
        form: Q network form, "mlp" or "residual" (`memento.memory.q_function.QConfig.form`).
    """
    from memento.memory.q_function import QConfig
    from memento.memory.q_learner import LearnerConfig, QLearner

    learner = QLearner(
        bank,
        folder,
        QConfig(seed=seed, lr=lr, form=form),
        LearnerConfig(
            steps_per_record=steps_per_record, unused_weight=unused_weight, save_every=save_every
        ),
    )
    return GraphQLearner(learner, namespace, shortlist)
