"""Online Q-learning from a replay buffer: learning on a toy stream, credit, counters, budget."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from memento.memory.q.checkpoint import CheckpointError, load_checkpoint
from memento.memory.q.config import LearnerConfig, credit_weights
from memento.memory.q.learner import QLearner
from memento.memory.q.replay import ReplayBuffer, Transition
from memento.memory.q.selector import q_scores
from tests.support.q import toy_bank, toy_config

TASKS = [f"question {i} about place number {i * 7}" for i in range(40)]


def _stream(learner: QLearner, good: list[str], bad: list[str], n: int, seed: int) -> None:
    """Show 4 random cases; the planner uses one; reward 1 iff it was a good case."""
    rng = np.random.default_rng(seed)
    pool = good + bad
    for _ in range(n):
        shown = [pool[i] for i in rng.choice(len(pool), size=4, replace=False)]
        used = shown[int(rng.integers(4))]
        reward = 1.0 if used in good else 0.0
        learner.record(str(rng.choice(TASKS[:30])), shown, [used], reward)


def _mean_q(learner: QLearner, ids: list[str]) -> float:
    vectors = learner.bank.vectors(ids)
    tasks = [learner.bank.embed_query(t) for t in TASKS[30:]]
    return float(np.mean([q_scores(learner.network, t, vectors).mean() for t in tasks]))


def test_online_updates_raise_q_of_rewarded_cases(tmp_path: Path) -> None:
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(
        bank, tmp_path / "q", toy_config(), LearnerConfig(save_every=30, steps_per_record=2)
    )
    before = _mean_q(learner, good) - _mean_q(learner, bad)
    _stream(learner, good, bad, n=60, seed=0)
    after_good, after_bad = _mean_q(learner, good), _mean_q(learner, bad)
    assert after_good > after_bad + 0.2, (after_good, after_bad)
    assert after_good - after_bad > before + 0.2
    assert len(learner.replay) == 60
    assert load_checkpoint(tmp_path / "q").meta.step == 120


def test_full_retrain_from_replay_also_separates(tmp_path: Path) -> None:
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(
        bank, tmp_path / "q", toy_config(epochs=20), LearnerConfig(steps_per_record=0)
    )
    _stream(learner, good, bad, n=40, seed=1)
    assert learner.step == 0
    losses = learner.retrain()
    assert losses[-1] < losses[0]
    assert _mean_q(learner, good) > _mean_q(learner, bad) + 0.2


def test_credit_weights_and_counters(tmp_path: Path) -> None:
    assert credit_weights(["a", "b"], ["b"], 0.25) == {"a": 0.25, "b": 1.0}
    assert credit_weights(["a", "b"], None, 0.25) == {"a": 1.0, "b": 1.0}
    assert credit_weights(["a", "b"], [], 0.25) == {"a": 1.0, "b": 1.0}
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(bank, tmp_path / "q", toy_config(), LearnerConfig(unused_weight=0.25))
    report = learner.record("a task", [good[0], bad[0]], [good[0]], 1.0)
    assert report.credit == {good[0]: 1.0, bad[0]: 0.25}
    assert report.loss is not None and report.version == 1
    learner.record("another task", [good[0], bad[0]], None, 1.0)
    learner.record("a third task", [good[0]], None, 0.0)
    g, b = bank.get_many([good[0], bad[0]])
    assert (g.times_retrieved, g.times_helpful) == (3, 2)
    assert (b.times_retrieved, b.times_helpful) == (2, 1)


def test_record_is_idempotent_per_key_and_validates(tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    learner = QLearner(bank, tmp_path / "q", toy_config())
    first = learner.record("t", good[:2], None, 1.0, key="thread-1")
    again = learner.record("t", good[:2], None, 1.0, key="thread-1")
    assert again.duplicate and again.transition_id == first.transition_id
    assert len(learner.replay) == 1 and bank.get(good[0]).times_retrieved == 1  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="reward"):
        learner.record("t", good[:1], None, 1.5)
    with pytest.raises(ValueError, match="shown"):
        learner.record("t", [], None, 1.0)
    assert len(learner.replay) == 1


def test_deleted_cases_are_skipped(tmp_path: Path) -> None:
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(bank, tmp_path / "q", toy_config())
    learner.record("t", [good[0], bad[0]], None, 1.0)
    bank.delete([bad[0]])
    report = learner.record("t2", [good[1], bad[0]], None, 0.0)
    assert report.missing == [bad[0]] and report.loss is not None


def test_budget_evicts_lowest_value_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(bank, tmp_path / "q", toy_config(), LearnerConfig(save_every=100))
    _stream(learner, good, bad, n=40, seed=2)
    learner.settings = LearnerConfig(budget=8)
    with caplog.at_level(logging.INFO, logger="memento.memory.q.learner"):
        evicted = learner.enforce_budget("default", protect=[bad[0]])
    assert len(evicted) == 4 and bad[0] not in evicted
    assert set(evicted) <= set(bad)
    assert bank.count("default") == 8
    assert caplog.text.count("evicted case") == 4
    assert learner.enforce_budget("default") == []


def test_bad_checkpoint_falls_back_to_fresh_or_raises(tmp_path: Path) -> None:
    bank, good, _ = toy_bank(tmp_path)
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "q.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        QLearner(bank, folder, toy_config(), allow_fallback=False)
    learner = QLearner(bank, folder, toy_config())
    assert (folder / "q.pt.corrupt").read_bytes() == b"garbage"
    assert learner.record("t", good[:1], None, 1.0).version == 1


def test_reopen_continues_from_checkpoint_and_replay(tmp_path: Path) -> None:
    bank, good, bad = toy_bank(tmp_path)
    learner = QLearner(bank, tmp_path / "q", toy_config())
    _stream(learner, good, bad, n=5, seed=3)
    again = QLearner.open(bank, tmp_path / "q")
    assert again.step == 5 and len(again.replay) == 5
    assert again.network.config == learner.network.config
    task = bank.embed_query("question")
    vectors = bank.vectors(good)
    assert np.allclose(
        q_scores(again.network, task, vectors), q_scores(learner.network, task, vectors)
    )


def test_replay_buffer_capacity_and_json_round_trip(tmp_path: Path) -> None:
    buf = ReplayBuffer(tmp_path / "r.sqlite", capacity=3)
    for i in range(5):
        buf.add(Transition(f"t{i}", np.full(4, i, np.float32), ("a",), None, 0.5))
    assert [t.task for t in buf.all()] == ["t2", "t3", "t4"]
    t = buf.all()[0]
    back = Transition.from_json(t.to_json())
    assert back.task == t.task and np.array_equal(back.task_vector, t.task_vector)
    assert len(buf.sample(2, np.random.default_rng(0))) == 2
    with pytest.raises(ValueError, match="reward"):
        buf.add(Transition("x", np.zeros(4, np.float32), ("a",), None, 2.0))
