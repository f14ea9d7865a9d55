"""Online learning of the Q-function: record a finished run, update from replay, bound the memory.

`QLearner(bank, checkpoint_dir, config).record(task, shown_ids, used_ids, reward)` is the whole
API the graph's update_q node needs. One call:

1. stores the transition (task, its vector, shown ids, used ids, reward) in the replay buffer
   (`<checkpoint_dir>/replay.sqlite`, next to the bank);
2. adds to each shown case's counters in the bank: times_retrieved += 1, and times_helpful += 1
   when the reward is at least `helpful_threshold` and the case was used (or no usage was
   reported);
3. takes `steps_per_record` mini-batch steps on transitions sampled from the buffer and saves
   the checkpoint atomically every `save_every` updates;
4. evicts cases past the namespace's budget, when one is set.

Credit per case: each shown case becomes one training row (task vector, case vector, reward).
When the planner reported the ids it used, those rows get weight 1 and the other shown cases
`unused_weight`; without a report (None or an empty list) all shown cases share the reward with
weight 1. A `key` (e.g. the run's thread id) makes `record` idempotent: a key already in the
buffer is neither stored nor trained on again.

Eviction (`budget`): the rule is documented in `memento.memory.q.capacity`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from memento.memory.learning import UpdateReport
from memento.memory.q.capacity import case_values, enforce_budget
from memento.memory.q.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    bank_model_hash,
    load_checkpoint,
    save_checkpoint,
)
from memento.memory.q.config import (
    LearnerConfig,
    bank_config,
    credit_weights,
    fresh_network,
    read_tasks,
    training_rows,
)
from memento.memory.q.network import (
    QConfig,
    QNetwork,
    make_optimizer,
    q_loss,
    seed_everything,
    train_epochs,
)
from memento.memory.q.replay import REPLAY_FILE, ReplayBuffer, Transition, check_run
from memento.memory.q.selector import KeptSelectors, QSelector

if TYPE_CHECKING:
    from collections.abc import Sequence

    from memento.memory.case_bank import CaseBank

logger = logging.getLogger(__name__)


class QLearner:
    """Owns the live Q network, its optimizer, the replay buffer and the checkpoint directory.

    A `Learner`. Not thread-safe (the optimizer's state is updated in place): one caller at a
    time, which the graph's `Deps` sees to; scoring by its selectors may run meanwhile.
    """

    def __init__(
        self,
        bank: CaseBank,
        checkpoint_dir: Path | str,
        config: QConfig | None = None,
        learner: LearnerConfig | None = None,
        *,
        replay: ReplayBuffer | None = None,
        allow_fallback: bool = True,
        namespace: str = "default",
    ) -> None:
        """Load the checkpoint in `checkpoint_dir` or start a fresh network from `config`.

        `namespace` is the default namespace of recorded transitions and of the budget.

        Raises:
            CheckpointError: an unusable checkpoint and `allow_fallback` false. With fallback,
                the bad file is kept as q.pt.corrupt and a fresh network starts (warning).
        """
        self.bank = bank
        self.namespace = namespace
        self.dir = Path(checkpoint_dir)
        self.settings = learner or LearnerConfig()
        self.replay = replay or ReplayBuffer(
            self.dir / REPLAY_FILE, capacity=self.settings.replay_capacity
        )
        self.step = 0
        self.network = self._load_or_fresh(config or bank_config(bank), allow_fallback)
        self.optimizer = make_optimizer(self.network)
        self.rng = np.random.default_rng(self.network.config.seed)
        self._updates = 0
        self._saved_at = 0
        self._selectors = KeptSelectors()

    @classmethod
    def open(
        cls,
        bank: CaseBank,
        checkpoint_dir: Path | str,
        config: QConfig | None = None,
        learner: LearnerConfig | None = None,
        **kwargs: Any,
    ) -> QLearner:
        """The learner stored in `checkpoint_dir` (created on first use), with fallback on."""
        return cls(bank, checkpoint_dir, config, learner, **kwargs)

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> QSelector:
        """A `QSelector` over this learner's bank that scores with the live network.

        One selector per policy is kept (its sampling stream goes on from task to task); it
        reads the bank afresh on every query.
        """
        return self._selectors.get(self.bank, self.network, greedy, temperature, self.settings)

    def close(self) -> None:
        """Close the replay buffer's file."""
        self.replay.close()

    def _load_or_fresh(self, config: QConfig, allow_fallback: bool) -> QNetwork:
        if (self.dir / "q.pt").exists():
            try:
                ckpt = load_checkpoint(
                    self.dir,
                    embedding_model=self.bank.embedding_model,
                    fingerprint=bank_model_hash(self.bank),
                )
                self.step = ckpt.meta.step
                return ckpt.network
            except CheckpointError as exc:
                if not allow_fallback:
                    raise
                keep = self.dir / "q.pt.corrupt"
                (self.dir / "q.pt").replace(keep)
                logger.warning("Q checkpoint unusable (%s); kept as %s, starting fresh", exc, keep)
        return fresh_network(self.bank, config)

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        task_vector: np.ndarray | None = None,
        protect: Sequence[str] = (),
        key: str | None = None,
        relabel: bool = False,
        shown_labels: Sequence[str] | None = None,
    ) -> UpdateReport:
        """Learn from one finished run; see the module docstring for the steps.

        A transition already stored under `key` is not stored twice: the call does nothing,
        unless `relabel` is true (delayed feedback), which sets its reward and trains on it.

        Raises:
            ValueError: reward outside [0, 1] or no shown ids (nothing is stored then).
        """
        check_run(reward, shown_ids)  # refuse before embedding anything
        vector = None
        if key is None or self.replay.find_key(key) is None:  # a stored key needs no vector
            vector = task_vector if task_vector is not None else self.bank.embed_query(task)
        t = Transition.of_run(
            task, vector, shown_ids, used_ids, reward,
            namespace=namespace or self.namespace, key=key, shown_labels=shown_labels,
        )  # fmt: skip
        return self.learn(t, relabel=relabel, protect=protect)

    def learn(
        self,
        t: Transition,
        *,
        relabel: bool = False,
        protect: Sequence[str] = (),
        save: bool = True,
    ) -> UpdateReport:
        """Steps 1-4 of `record` for a ready transition (a trainer feeds workers' ones here).

        `save` false leaves publishing to the caller (e.g. once per batch of transitions).
        """
        if t.key is not None:
            existing = self.replay.find_key(t.key)
            if existing is not None and not relabel:
                return UpdateReport(existing, {}, steps=self.step, duplicate=True)
            if existing is not None:
                self.replay.set_reward(existing, float(t.reward))
                losses = [self.update_step() for _ in range(self.settings.steps_per_record)]
                done = [x for x in losses if x is not None]
                version = self.save().version if done and save else None
                return UpdateReport(
                    existing,
                    credit_weights(t.shown_ids, t.used_ids, self.settings.unused_weight),
                    loss=float(np.mean(done)) if done else None,
                    steps=self.step,
                    version=version,
                )
        tid = self.replay.add(t)
        credit = credit_weights(t.shown_ids, t.used_ids, self.settings.unused_weight)
        missing = self._count_usage(t)
        losses = [self.update_step() for _ in range(self.settings.steps_per_record)]
        done = [x for x in losses if x is not None]
        version = None
        if save and done and self._updates - self._saved_at >= max(self.settings.save_every, 1):
            version = self.save().version
        evicted = self.enforce_budget(t.namespace, protect=protect)
        return UpdateReport(
            transition_id=tid,
            credit=credit,
            loss=float(np.mean(done)) if done else None,
            steps=self.step,
            version=version,
            evicted=evicted,
            missing=missing,
        )

    def _count_usage(self, t: Transition) -> list[str]:
        good = t.reward >= self.settings.helpful_threshold
        helped = set(t.shown_ids if not t.used_ids else t.used_ids) if good else set()
        return self.bank.count_usage(t.shown_ids, helped)

    def rows(
        self, transitions: Sequence[Transition]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training rows (task vectors, case vectors, rewards, credit weights) of transitions."""
        unused = self.settings.unused_weight
        read = read_tasks(self.network, transitions)
        return training_rows(self.bank, read, unused, self.network.config)

    def adopt(self, network: QNetwork, step: int) -> None:
        """Continue training from `network` (e.g. the newest published version), fresh optimizer."""
        self.network = network
        self.optimizer = make_optimizer(network)
        self.step = step

    def update_step(self) -> float | None:
        """One optimisation step on a mini-batch sampled from the replay buffer; its loss."""
        batch = self.replay.sample(self.settings.batch_transitions, self.rng)
        q, c, r, w = self.rows(batch)
        if r.numel() == 0:
            return None
        with self.network.lock:  # a selection scoring now waits for the step
            self.network.train()
            loss = q_loss(self.network(q, c), r, w)
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            self.network.eval()
        self.step += 1
        self._updates += 1
        return float(loss.detach())

    def retrain(self, epochs: int | None = None, *, fresh: bool = True) -> list[float]:
        """Train on the whole replay buffer (from fresh weights by default); epoch losses."""
        q, c, r, w = self.rows(self.replay.all())
        if fresh:
            seed_everything(self.network.config.seed)
            with self.network.lock:
                self.network.load_state_dict(QNetwork(self.network.config).state_dict())
            self.optimizer = make_optimizer(self.network)
        losses = train_epochs(self.network, q, c, r, w, epochs=epochs, optimizer=self.optimizer)
        n_epochs = epochs if epochs is not None else self.network.config.epochs
        self.step += n_epochs * -(-int(r.numel()) // self.network.config.batch_size)
        return losses

    def save(self) -> CheckpointMeta:
        """Save the live network atomically as the next checkpoint version."""
        self._saved_at = self._updates
        return save_checkpoint(
            self.dir,
            self.network,
            embedding_model=self.bank.embedding_model,
            fingerprint=bank_model_hash(self.bank),
            step=self.step,
            extra={"replay_transitions": len(self.replay)},
        )

    def case_values(self, namespace: str) -> dict[str, float]:
        """The eviction value of every case of `namespace` (see `memento.memory.q.capacity`)."""
        return case_values(self.bank, self.network, self.replay, self.settings, namespace)

    def enforce_budget(self, namespace: str, *, protect: Sequence[str] = ()) -> list[str]:
        """Evict the lowest-value cases past the namespace's budget; returns their ids."""
        return enforce_budget(
            self.bank, self.network, self.replay, self.settings, namespace, protect=protect
        )
