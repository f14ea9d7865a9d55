"""The kernel episodic-control Q form: estimator, shortlist selector, Learner, graph wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memento.memory.case_bank import CaseBank
from memento.memory.learning import Learner, UpdateReport
from memento.memory.q.kernel import KernelConfig, KernelLearner, KernelQ, mask_entities
from memento.memory.selection import CaseSelector
from memento.testing import HashEmbeddings, make_case


def _unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, np.float32)
    return v / np.linalg.norm(v)


def test_mask_entities_keeps_the_template() -> None:
    assert mask_entities("Who was born earlier, Alva Brenn or Per Holm?") == (
        "Who was born earlier, X or X?"
    )
    assert mask_entities("How many children does Nils Varg have?") == mask_entities(
        "How many children does Oda Lind have?"
    )


def test_untried_pair_gets_the_prior_and_tries_move_it() -> None:
    q = KernelQ(KernelConfig(baseline=False, bonus=0.0, sim_weight=0.0))
    s, good, bad = _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)
    value, n = q.score(s, np.stack([good, bad]), np.asarray([1, 1]))
    assert np.allclose(value, 0.5) and np.allclose(n, 0.0)
    for _ in range(3):
        q.record(s, [(good, 1), (bad, 1)], [True, False], 1.0)
        q.record(s, [(bad, 1)], [True], 0.0)
    value, n = q.score(s, np.stack([good, bad]), np.asarray([1, 1]))
    assert value[0] > 0.8 and value[1] < 0.2 and n.min() > 2.5
    # another label of the same case feature, and a far-away task, stay at the prior
    assert np.isclose(q.score(s, good[None], np.asarray([0]))[0][0], 0.5)
    assert np.isclose(q.score(_unit(0, 1, 1), good[None], np.asarray([1]))[0][0], 0.5, atol=1e-3)


def test_optimism_prefers_the_untried_over_a_known_mediocre_case() -> None:
    q = KernelQ(KernelConfig(baseline=False, bonus=0.5, sim_weight=0.0))
    s, tried, new = _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)
    for r in (1.0, 0.0, 0.0, 1.0, 0.0, 0.0):
        q.record(s, [(tried, 1)], [True], r)
    order, _ = q.rank(s, np.stack([tried, new]), np.asarray([1, 1]), np.asarray([0.9, 0.1]))
    assert order.tolist() == [1, 0]


def test_selector_learns_to_skip_a_case_that_failed(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path / "c", embeddings=HashEmbeddings(32), dedup_threshold=None)
    good, bad = bank.add_cases(
        [make_case("alpha river mountain green"), make_case("alpha river mountain red")]
    )
    learner = KernelLearner(bank, KernelConfig(features="raw", bonus=0.0, tau_case=0.01))
    task = "alpha river mountain"
    first = [s.case.id for s in learner.selector().select(task, k=2)]
    assert set(first) == {good, bad}
    for _ in range(2):
        learner.record(task, [bad], [bad], 0.0)
        learner.record(task, [good], [good], 1.0)
    assert [s.case.id for s in learner.selector().select(task, k=1)] == [good]
    report = learner.record(task, [good, bad], [good], 1.0)
    assert report.credit == {good: 1.0, bad: 0.0} and len(learner.q) == 6  # both shown


def test_baseline_prefers_a_case_that_lifts_a_hard_task_over_an_untried_one() -> None:
    """A case whose tries score 0.5 where similar tasks reach 0.2 beats one never used there."""
    q = KernelQ(KernelConfig(baseline=True, bonus=0.05, sim_weight=0.0))
    s, helper, idle = _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)
    for r in (0.0, 0.0, 0.0, 0.0, 1.0, 0.0):
        q.record(s, [(idle, 1)], [False], r)
    for r in (1.0, 0.0):
        q.record(s, [(helper, 0)], [True], r)
    assert q.prior(s) < 0.35
    order, _ = q.rank(s, np.stack([idle, helper]), np.asarray([1, 0]), np.zeros(2))
    assert order.tolist() == [1, 0]
    without = KernelQ(KernelConfig(baseline=False, prior_mean=0.5, bonus=0.05, sim_weight=0.0))
    for r in (1.0, 0.0):
        without.record(s, [(helper, 0)], [True], r)
    assert without.rank(s, np.stack([idle, helper]), np.asarray([1, 0]), np.zeros(2))[0][0] == 0


def test_a_case_of_the_very_same_task_is_shown_before_any_try() -> None:
    """The near-duplicate bonus keeps a task's own case (even a failure) ahead of untried ones."""
    q = KernelQ(KernelConfig(bonus=0.0, sim_weight=0.0))
    s, own, other = _unit(1, 0, 0), _unit(0, 1, 0), _unit(0, 0, 1)
    order, _ = q.rank(s, np.stack([other, own]), np.asarray([1, 0]), np.asarray([0.9, 1.0]))
    assert order.tolist() == [1, 0]
    flat = KernelQ(KernelConfig(bonus=0.0, sim_weight=0.0, near_weight=0.0))
    assert np.allclose(
        flat.rank(s, np.stack([other, own]), np.asarray([1, 0]), np.asarray([0.9, 1.0]))[1], 0.5
    )


def test_label_quotas_are_kept(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path / "c", embeddings=HashEmbeddings(32), dedup_threshold=None)
    bank.add_cases(
        [make_case(f"alpha river {i}") for i in range(3)]
        + [make_case(f"alpha river {i} red", label="negative") for i in range(3)]
    )
    picked = KernelLearner(bank).selector().select("alpha river", k=4, positive=1)
    assert [s.case.label for s in picked].count("positive") == 1 and len(picked) == 4
    only = KernelLearner(bank).selector().select("alpha river", k=4, positive=2, negative=0)
    assert [s.case.label for s in only] == ["positive", "positive"]


def test_kernel_learner_satisfies_the_learner_protocol(tmp_path: Path) -> None:
    bank = CaseBank(path=tmp_path / "c", embeddings=HashEmbeddings(32), dedup_threshold=None)
    (case,) = bank.add_cases([make_case("alpha river")])
    learner = KernelLearner(bank)
    assert isinstance(learner, Learner)
    assert isinstance(learner.selector(), CaseSelector)
    soft = learner.selector(greedy=False, temperature=0.5)
    assert isinstance(soft, CaseSelector) and soft.name == "q_softmax"
    assert [s.case.id for s in soft.select("alpha river", k=1)] == [case]
    first = learner.record("alpha river", [case, "gone"], None, 0.0, key="t1")
    assert isinstance(first, UpdateReport) and first.missing == ["gone"]
    assert first.credit == {case: 1.0}  # used_ids None: every shown case counts as used
    assert learner.record("alpha river", [case], None, 0.0, key="t1").duplicate
    assert (
        learner.q.score(bank.embed_query("alpha river"), bank.vectors([case]), np.ones(1))[0][0]
        < 0.5
    )
    learner.record("alpha river", [case], None, 1.0, key="t1", relabel=True)
    value = learner.q.score(bank.embed_query("alpha river"), bank.vectors([case]), np.ones(1))[0]
    assert len(learner.q) == 1 and value[0] > 0.5  # relabelled in place, not logged twice
    assert learner.record("alpha river", ["gone"], [], 1.0).skipped
    learner.close()


async def test_graph_with_kernel_q_ranks_a_case_that_helped_above_a_more_similar_one(
    tmp_path: Path,
) -> None:
    """Through the real graph (`open_learner` builds the learner from Context(q_form="kernel"))."""
    from dataclasses import replace

    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.memory import InMemorySaver

    from memento.graphs import Context, build_graph
    from memento.graphs.feedback import give_feedback
    from memento.testing import capital_tools, make_bank

    bank = make_bank(tmp_path / "chroma", dedup_threshold=None)
    plan = {"plan": [{"id": 1, "description": "Search the capital of the country"}]}
    near = bank.add("What is the capital city of Spain today?", plan, reward=1.0)
    far = bank.add("Capital of Chile: which city is it?", plan, reward=1.0)
    graph = build_graph(
        checkpointer=InMemorySaver(),
        tools=capital_tools(),
        case_bank=bank,
        planner="offline",
        executor="offline",
    )
    ctx = Context(selection="q", k=1, q_form="kernel", home=str(tmp_path / "home"))

    async def run(thread: str, country: str, reward: float, k: int = 1) -> list[str]:
        task = f"What is the capital of {country}?"
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        out = await graph.ainvoke({"task": task}, config, context=replace(ctx, k=k))
        shown = [c["id"] for c in out["retrieved"]]
        if reward >= 0:
            await give_feedback(graph, thread, reward, context=ctx)
        bank.delete([i for i in bank.all_vectors()[0] if i not in {near, far}])
        return shown

    assert [s.case.id for s in bank.search("What is the capital of Peru?", 2)] == [near, far]
    assert await run("t1", "France", 0.0) == [near]  # similarity's pick fails ...
    assert await run("t2", "Japan", 1.0) == [far]  # ... so the untried one is tried, and helps
    assert await run("t3", "Peru", -1.0, k=2) == [far, near]


def _bank(path: Path) -> CaseBank:
    return CaseBank(path=path, embeddings=HashEmbeddings(32), dedup_threshold=None)


def test_the_log_outlives_the_process_and_keys_stay_once(tmp_path: Path) -> None:
    """Runs are kept in <folder>/replay.sqlite: a reopened learner ranks as the old one did."""
    bank = _bank(tmp_path / "c")
    good, bad = bank.add_cases(
        [make_case("alpha river mountain green"), make_case("alpha river mountain red")]
    )
    config = KernelConfig(features="raw", bonus=0.0, tau_case=0.01)
    first = KernelLearner.open(bank, tmp_path / "q", config)
    task = "alpha river mountain"
    for i in range(2):
        first.record(task, [bad], [bad], 0.0, key=f"bad-{i}")
        first.record(task, [good], [good], 1.0, key=f"good-{i}")
    first.close()
    calls: list[str] = []  # masked features are embedded on open
    embed = bank.embed_query

    def counted(text: str) -> np.ndarray:
        calls.append(text)
        return embed(text)

    bank.embed_query = counted  # type: ignore[method-assign]
    masked = KernelLearner.open(bank, tmp_path / "q")
    bank.embed_query = embed  # type: ignore[method-assign]
    assert len(masked.q) == 4 and calls == []  # read back in batches, not one call per run
    masked.close()
    again = KernelLearner.open(bank, tmp_path / "q", config)
    assert len(again.q) == 4
    assert [s.case.id for s in again.selector().select(task, k=1)] == [good]
    assert again.record(task, [bad], [bad], 0.0, key="bad-0").duplicate  # stored once
    again.record(task, [good], [good], 0.0, key="good-0", relabel=True)
    again.record(task, [good], [good], 0.0, key="good-1", relabel=True)
    assert len(again.q) == 4  # relabelled in place
    value = again.values(task, [good, bad])
    assert value[0] < 0.2 and value[1] < 0.2
    again.close()
    third = KernelLearner.open(bank, tmp_path / "q", config)  # the relabels were stored too
    assert third.values(task, [good])[0] < 0.2
    assert np.isnan(third.values(task, ["gone"])[0])
    third.close()


def test_counters_in_the_bank_follow_the_runs(tmp_path: Path) -> None:
    bank = _bank(tmp_path / "c")
    used, idle = bank.add_cases([make_case("alpha river"), make_case("alpha lake")])
    learner = KernelLearner(bank)
    learner.record("alpha", [used, idle], [used], 1.0)
    learner.record("alpha", [used], None, 0.0)
    learner.flush()  # counted off the record path
    a, b = bank.get(used), bank.get(idle)
    assert a is not None and b is not None
    assert (a.times_retrieved, a.times_helpful) == (2, 1)
    assert (b.times_retrieved, b.times_helpful) == (1, 0)


def test_namespaces_keep_their_own_tries(tmp_path: Path) -> None:
    bank = _bank(tmp_path / "c")
    (case,) = bank.add_cases([make_case("alpha river")])
    learner = KernelLearner(bank, KernelConfig(features="raw"))
    for _ in range(3):
        learner.record("alpha river", [case], [case], 0.0, namespace="team-a")
    assert learner.values("alpha river", [case], "team-a")[0] < 0.3
    assert learner.values("alpha river", [case], "team-b")[0] == pytest.approx(0.5)
    assert len(learner.q) == 0  # the default namespace saw none of them


def test_two_processes_on_one_folder_see_each_others_runs(tmp_path: Path) -> None:
    """A second learner on the same file (another worker) reads runs appended after it opened."""
    bank = _bank(tmp_path / "c")
    (case,) = bank.add_cases([make_case("alpha river")])
    config = KernelConfig(features="raw")
    one = KernelLearner.open(bank, tmp_path / "q", config)
    two = KernelLearner.open(bank, tmp_path / "q", config)
    for i in range(3):
        one.record("alpha river", [case], [case], 1.0, key=f"one-{i}")
    assert two.values("alpha river", [case])[0] > 0.7
    assert two.record("alpha river", [case], [case], 1.0, key="one-0").duplicate
    assert len(two.q) == 3
    one.close()
    two.close()


def test_bad_runs_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    bank = _bank(tmp_path / "c")
    (case,) = bank.add_cases([make_case("alpha river")])
    learner = KernelLearner.open(bank, tmp_path / "q")
    with pytest.raises(ValueError, match="reward"):
        learner.record("alpha", [case], None, 1.5)
    with pytest.raises(ValueError, match="shown"):
        learner.record("alpha", [], None, 1.0)
    assert len(learner.replay) == 0
    learner.close()


def test_a_try_keeps_the_label_its_case_was_shown_with(tmp_path: Path) -> None:
    """A fold relabels a case after its try: running and reopened learners both count the try
    under the label shown, and rank the case by its label now."""
    bank = _bank(tmp_path / "c")
    (case,) = bank.add_cases([make_case("alpha river mountain", label="negative", reward=0.0)])
    config = KernelConfig(features="raw", bonus=0.0, baseline=False, sim_weight=0.0)
    running = KernelLearner.open(bank, tmp_path / "q", config)
    task = "alpha river mountain"
    assert [s.case.id for s in running.selector().select(task, k=1)] == [case]
    for i in range(3):  # shown as negative, each run solved
        running.record(task, [case], [case], 1.0, key=f"run-{i}")
    assert running.values(task, [case])[0] > 0.7  # a negative case here: the task succeeds
    bank.update(case, reward=1.0, label="positive")  # a twin solved it: the fold relabels
    # the running learner reads the new label; no positive case was ever tried here: the prior
    assert running.values(task, [case])[0] == pytest.approx(0.5)
    running.close()
    reopened = KernelLearner.open(bank, tmp_path / "q", config)
    assert reopened.replay.all()[0].shown_labels == ("negative",)
    assert reopened.values(task, [case])[0] == pytest.approx(0.5)  # tries read as shown
    # labels passed by the caller win over the ones the learner read
    reopened.record(task, [case], [case], 0.0, key="late", shown_labels=["positive"])
    assert reopened.values(task, [case])[0] < 0.3
    reopened.close()


def test_shown_labels_are_stored_checked_and_an_older_buffer_still_opens(tmp_path: Path) -> None:
    import sqlite3

    from memento.memory.q.replay import ReplayBuffer, Transition

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the table as written before labels were kept
    db.execute(
        "CREATE TABLE transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT"
        " NULL, namespace TEXT NOT NULL, task TEXT NOT NULL, task_vector BLOB NOT NULL,"
        " shown_ids TEXT NOT NULL, used_ids TEXT, reward REAL NOT NULL, key TEXT UNIQUE)"
    )
    db.execute(
        "INSERT INTO transitions (created_at, namespace, task, task_vector, shown_ids, reward)"
        " VALUES ('t', 'default', 'old task', x'', '[\"a\"]', 1.0)"
    )
    db.commit()
    db.close()
    buf = ReplayBuffer(path)
    t = Transition.of_run(
        "new task", None, ["a", "b"], None, 0.0, namespace="default", key="k",
        shown_labels=["positive", "negative"],
    )  # fmt: skip
    buf.add(t)
    old, new = buf.all()
    assert old.shown_labels is None and new.shown_labels == ("positive", "negative")
    assert Transition.from_json(new.to_json()).shown_labels == ("positive", "negative")
    buf.close()
    assert ReplayBuffer(path).all()[1].shown_labels == ("positive", "negative")  # reopened
    for bad in (["positive"], ["positive", "maybe"]):
        with pytest.raises(ValueError, match="shown_labels"):
            Transition.of_run("x", None, ["a", "b"], None, 0.0, namespace="d", key=None,
                              shown_labels=bad)  # fmt: skip
