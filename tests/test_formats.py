"""Case files: upstream memory.jsonl and the project's JSONL, validated whole, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memento.memory.formats import FormatError, detect_format, read_cases, write_cases
from memento.testing import make_case

GOOD_PLAN = '{"plan":[{"id":1,"description":"Find it."}]}'


def upstream_line(task: str, label: str = "positive", plan: str = GOOD_PLAN) -> str:
    return json.dumps({"case": task, "plan": plan, "case_label": label})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_reads_upstream_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "memory.jsonl",
        [upstream_line("Task one?"), "", upstream_line("Task two?", "negative")],
    )
    cases = read_cases(path, namespace="team")
    assert detect_format(path) == "upstream"
    assert [(c.task, c.label, c.reward, c.namespace) for c in cases] == [
        ("Task one?", "positive", 1.0, "team"),
        ("Task two?", "negative", 0.0, "team"),
    ]
    assert cases[0].plan.plan[0].description == "Find it."
    assert cases[0].source == "memento-upstream"
    assert cases[0].id != cases[1].id


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (json.dumps({"case": "t", "case_label": "positive"}), "missing field 'plan'"),
        (upstream_line("t", plan='{"plan": "do it"}'), "plan is not the plan shape"),
        (upstream_line("t", plan='{"plan": [}'), "plan is not the plan shape"),
        (upstream_line("t", plan='{"plan": []}'), "plan is not the plan shape"),
        (upstream_line("t", label="maybe"), "case_label"),
        (upstream_line(""), "non-empty"),
        (
            json.dumps({"case": "t", "plan": GOOD_PLAN, "case_label": "positive", "x": 1}),
            "unexpected field 'x'",
        ),
    ],
)
def test_bad_upstream_line_names_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write_lines(tmp_path / "memory.jsonl", [upstream_line("a"), upstream_line("b"), bad])
    with pytest.raises(FormatError) as err:
        read_cases(path, format="upstream")
    assert err.value.line == 3
    assert "memory.jsonl line 3: " in str(err.value)
    assert message in err.value.problem


def test_memento_format_round_trips_every_field(tmp_path: Path) -> None:
    cases = [
        make_case(
            "Who wrote Hamlet?",
            namespace="a",
            times_retrieved=3,
            times_helpful=2,
            created_at="2025-01-02T03:04:05+00:00",
            source="run",
            observations=2,
        ),
        make_case("Capital of Peru?", label="negative", steps=("Find the country.", "Answer.")),
    ]
    path = tmp_path / "out" / "cases.jsonl"
    assert write_cases(path, cases, format="memento") == 2
    assert detect_format(path) == "memento"
    assert read_cases(path) == cases
    renamed = read_cases(path, namespace="moved")
    assert {c.namespace for c in renamed} == {"moved"}


def test_upstream_export_has_upstream_fields(tmp_path: Path) -> None:
    cases = [make_case("Who wrote Hamlet?", label="negative")]
    path = tmp_path / "memory.jsonl"
    write_cases(path, cases, format="upstream")
    row = json.loads(path.read_text(encoding="utf-8"))
    assert set(row) == {"case", "plan", "case_label"}
    back = read_cases(path, format="upstream")
    assert (back[0].task, back[0].plan, back[0].label) == (
        "Who wrote Hamlet?",
        cases[0].plan,
        "negative",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {
                "task": "t",
                "plan": {"plan": [{"id": 1}]},
                "label": "positive",
                "reward": 1.0,
                "id": "x",
            },
            "plan is not the plan shape",
        ),
        (
            {"task": "t", "plan": "not json", "label": "positive", "reward": 1.0, "id": "x"},
            "plan is not the plan shape",
        ),
        (
            {
                "task": "t",
                "plan": {"plan": [{"id": 1, "description": "d"}]},
                "label": "positive",
                "reward": 7,
                "id": "x",
            },
            "reward",
        ),
        (
            {
                "task": "t",
                "plan": {"plan": [{"id": 1, "description": "d"}]},
                "label": "positive",
                "reward": 1.0,
            },
            "id",
        ),
        (
            {
                "task": " \n\t ",
                "plan": {"plan": [{"id": 1, "description": "d"}]},
                "label": "positive",
                "reward": 1.0,
                "id": "x",
            },
            "task must not be blank",
        ),
        (
            {
                "task": "t",
                "plan": {"plan": [{"id": 1, "description": "d"}]},
                "label": "positive",
                "reward": 1.0,
                "id": "x",
                "created_at": "last Tuesday",
            },
            "created_at is not an ISO-8601 time: 'last Tuesday'",
        ),
    ],  # fmt: skip
)
def test_bad_memento_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    good = make_case("fine").model_dump(mode="json")
    path = write_lines(tmp_path / "cases.jsonl", [json.dumps(good), json.dumps(row)])
    with pytest.raises(FormatError, match=f"cases.jsonl line 2: .*{message}"):
        read_cases(path, format="memento")


def test_duplicate_id_in_memento_file(tmp_path: Path) -> None:
    row = json.dumps(make_case("same").model_dump(mode="json"))
    path = write_lines(tmp_path / "cases.jsonl", [row, row])
    with pytest.raises(FormatError, match=r"line 2: duplicate id .* \(first on line 1\)"):
        read_cases(path)


def test_unknown_shape_and_missing_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [json.dumps({"query": "q"})])
    with pytest.raises(FormatError, match="x.jsonl line 1: neither"):
        read_cases(path)
    with pytest.raises(FormatError, match="cannot open"):
        read_cases(tmp_path / "missing.jsonl")


def test_failed_write_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("old\n", encoding="utf-8")

    def broken() -> object:
        yield make_case("one")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_cases(path, broken(), format="memento")  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cases.jsonl"]
