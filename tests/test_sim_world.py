"""The simulated world: deterministic knowledge base, documents, families, tasks and answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memento.sim.config import SimConfig
from memento.sim.families import FAMILIES, parse_step, parse_task, render_plan, signature, twin
from memento.sim.world import World, count_names


@pytest.fixture(scope="module")
def world() -> World:
    return World(SimConfig())


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = World(SimConfig(seed=3)), World(SimConfig(seed=3)), World(SimConfig(seed=4))
    assert a.documents() == b.documents()
    assert [t.question for t in a.tasks] == [t.question for t in b.tasks]
    assert a.documents() != c.documents()


def test_default_world_size_and_families(world: World) -> None:
    cfg = world.config
    assert len(world.tasks) == 2 * len(cfg.families) * cfg.tasks_per_family
    fams = {t.family for t in world.tasks}
    assert fams == set(cfg.families) | {twin(f) for f in cfg.families}
    assert len({t.question for t in world.tasks}) == len(world.tasks)
    assert len({t.task_id for t in world.tasks}) == len(world.tasks)


def test_fresh_questions_are_new_each_epoch() -> None:
    cfg = SimConfig(questions="fresh", epochs=3)
    w = World(cfg)
    per_epoch = [w.eval_tasks(e) for e in (1, 2, 3)]
    assert all(len(ts) == 2 * len(cfg.families) * cfg.tasks_per_family for ts in per_epoch)
    questions = [{t.question for t in ts} for ts in per_epoch]
    assert not (questions[0] & questions[1] or questions[0] & questions[2] or
                questions[1] & questions[2])  # fmt: skip
    assert len({t.task_id for ts in per_epoch for t in ts}) == 3 * len(per_epoch[0])
    for ts in per_epoch:  # every family in every epoch, twins about the same people
        assert {t.data_source for t in ts} == {t.family for t in w.tasks}
    # The repeat protocol asks every task in every epoch.
    repeat = World(SimConfig())
    assert repeat.eval_tasks(2) == repeat.eval_tasks() and len(repeat.eval_tasks()) == 50


def test_fresh_questions_need_a_world_big_enough_for_every_epoch() -> None:
    with pytest.raises(ValueError, match="spouse_father_year.*or epochs"):
        World(SimConfig(questions="fresh", epochs=8, families=("spouse_father_year",)))
    with pytest.raises(ValueError, match="questions must be one of"):
        SimConfig(questions="sometimes")


def test_without_distractors_only_base_families() -> None:
    w = World(SimConfig(distractors=False, tasks_per_family=3))
    assert {t.family for t in w.tasks} == set(SimConfig().families)
    assert len(w.tasks) == 3 * len(SimConfig().families)


def test_distractor_tasks_share_people_but_not_answers(world: World) -> None:
    by_id = {t.task_id: t for t in world.tasks}
    pairs = 0
    for t in world.tasks:
        fam = FAMILIES[t.family]
        if fam.twin_of:
            base = by_id[t.task_id.replace(t.family, fam.twin_of)]
            assert base.slots == t.slots
            assert base.answer != t.answer
            assert signature(FAMILIES[base.family].plan) != signature(fam.plan)
            pairs += 1
    assert pairs == len(world.config.families) * world.config.tasks_per_family


def test_answers_are_stated_by_the_documents(world: World) -> None:
    text = " ".join(world.documents().values())
    for t in world.tasks:
        if t.family in ("birth_year", "birth_city"):
            assert t.answer in text
        if t.family == "spouse_father_year":
            spouse = world.lookup(t.slots["X"], "spouse")
            father = world.lookup(spouse or "", "father")
            assert f"The father of {spouse} is {father}." in text
            assert f"{father} was born in {t.answer}." in text


def test_every_task_parses_back_to_its_family(world: World) -> None:
    for t in world.tasks:
        assert parse_task(t.question) == (t.family, t.slots)
    assert parse_task("What is the capital of France?") is None


def test_plans_render_and_parse_back() -> None:
    slots = {"X": "Alva Brenn", "Y": "Per Holm"}
    for fam in FAMILIES.values():
        plan = render_plan(fam.plan, slots)
        steps = [parse_step(str(s["description"]), slots) for s in plan["plan"]]  # type: ignore[index]
        assert tuple(steps) == fam.plan


def test_the_right_plan_solves_and_the_twin_plan_does_not(world: World) -> None:
    for t in world.tasks:
        assert world.solve(FAMILIES[t.family].plan, t.slots) == t.answer
        wrong = world.solve(FAMILIES[twin(t.family)].plan, t.slots)
        assert wrong != t.answer


def test_write_documents(tmp_path: Path, world: World) -> None:
    paths = world.write_documents(tmp_path / "docs")
    assert len(paths) == len(world.people) + len(world.companies)
    sample = paths[0].read_text(encoding="utf-8")
    assert re.search(r"\bwas born in \d{4}\.|headquartered in the city of", sample)


def test_count_names() -> None:
    assert count_names("Alva Brenn, Per Holm and Oda Vell") == 3
    assert count_names("Alva Brenn") == 1
    assert count_names("none") == 0


@pytest.mark.parametrize(
    ("knob", "value"),
    [("follow_p", 1.5), ("noise", -0.1), ("tasks_per_family", 0), ("families", ("nope",))],
)
def test_bad_knobs_are_named(knob: str, value: object) -> None:
    with pytest.raises(ValueError, match=knob):
        SimConfig(**{knob: value})  # type: ignore[arg-type]


def test_too_many_tasks_for_the_world_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="tasks_per_family"):
        World(SimConfig(couples=1, tasks_per_family=40))
