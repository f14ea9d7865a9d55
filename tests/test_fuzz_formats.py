"""Property tests and a byte-mutation fuzzer over case files (upstream and Memento JSONL).

Properties: the reader raises only its documented error (FormatError); the error
names the file and the exact bad line, and for a bad field the field; importing into a Case Bank
is all or nothing (a rejected file leaves ids, documents, vectors and metadata as they were); an
accepted case is stored and read back exactly.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from memento.memory.case_bank import CaseBank
from memento.memory.formats import FormatError, read_cases, write_cases
from memento.memory.records import COUNTER_MAX, Case
from memento.memory.store import forget_clients
from memento.testing import HashEmbeddings, make_case
from tests.support import fuzz as fz

# ---------------------------------------------------------------- strategies: valid rows

# Rows stored in the bank keep texts under ~6k characters: Chroma indexes every document for
# full-text search, which makes 60k-character tasks cost a second each. Huge texts go through
# the readers alone (upstream rows below, and the mutation fuzzer).
bank_texts = st.text(min_size=1, max_size=60) | st.text(min_size=1, max_size=3).map(
    lambda s: s * 1000
)


def steps_of(descriptions: st.SearchStrategy[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    step = st.fixed_dictionaries({"id": st.integers(), "description": descriptions})
    return st.lists(step, min_size=1, max_size=4)


steps = steps_of(fz.nonblank)
bank_steps = steps_of(bank_texts.filter(lambda s: s.strip() != ""))
memento_rows = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=40),
        "task": bank_texts.filter(lambda s: s.strip() != ""),
        "plan": st.builds(lambda s: {"plan": s}, bank_steps),
        "label": st.sampled_from(["positive", "negative"]),
        "reward": st.floats(0.0, 1.0),
    },
    optional={
        "source": st.text(max_size=30),
        "namespace": st.text(min_size=1, max_size=30),
        "created_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
        "times_retrieved": st.integers(0, COUNTER_MAX),
        "times_helpful": st.integers(0, COUNTER_MAX),
        "observations": st.integers(1, COUNTER_MAX),
    },
)
memento_files = st.lists(memento_rows, min_size=1, max_size=5, unique_by=lambda r: r["id"])
upstream_rows = st.fixed_dictionaries(
    {
        "case": fz.nonblank,
        "plan": steps.map(lambda s: json.dumps({"plan": s})),
        "case_label": st.sampled_from(["positive", "negative"]),
    }
)
upstream_files = st.lists(upstream_rows, min_size=1, max_size=5)

# ---------------------------------------------------------------- strategies: bad fields

MEMENTO_BAD: dict[str, list[Any]] = {
    "id": [*fz.NOT_STR, ""],
    "task": [*fz.NOT_STR, "", "   \n"],
    "created_at": ["yesterday", "", "2026-13-45", "12:00 on Monday", None],
    "plan": [
        None, 1, [], {}, "not json", "[1]", {"plan": []}, {"plan": "do it"},
        {"plan": [{"id": "x", "description": "d"}]}, {"plan": [{"id": 1, "description": ""}]},
        {"plan": [{"id": 1}]}, {"plan": [{"id": 1, "description": "d", "x": 1}]}, {"steps": []},
    ],
    "label": ["maybe", "Positive", None, 1, ""],
    "reward": [-0.5, 1.5, float("nan"), float("inf"), float("-inf"), "high", None, []],
    "namespace": ["", None, 3],
    "times_retrieved": [-1, COUNTER_MAX + 1, 1.5, "x"],
    "observations": [0, -3, COUNTER_MAX + 1],
}  # fmt: skip
UPSTREAM_BAD: dict[str, list[Any]] = {
    "case": [*fz.NOT_STR, "", "   \n"],
    "plan": [None, 1, "not json", "[]", '{"plan": []}', '{"plan": [{"id": 1}]}', "{}"],
    "case_label": ["maybe", "Positive", None, 1, ["positive"]],
}


# ---------------------------------------------------------------- the bank under test


@pytest.fixture(scope="module")
def bank() -> Iterator[CaseBank]:
    forget_clients()
    with tempfile.TemporaryDirectory(prefix="fuzz-bank-") as tmp:
        bank = CaseBank(
            path=Path(tmp) / "chroma", embeddings=HashEmbeddings(), dedup_threshold=0.97
        )
        bank.add_cases(
            [
                make_case("What is the capital of Peru?"),
                make_case("Who wrote Emma?", label="negative"),
                make_case("Boiling point of water", namespace="science"),
            ]
        )
        yield bank
    forget_clients()


def snapshot(bank: CaseBank) -> list[tuple[Any, ...]]:
    got = bank.collection.get(include=["documents", "metadatas", "embeddings"])
    rows = zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)
    return sorted(
        (i, d, json.dumps(m, sort_keys=True), tuple(map(float, e))) for i, d, m, e in rows
    )


def import_file(bank: CaseBank, path: Path, fmt: str = "auto") -> list[str]:
    """What `memento cases import` does: validate the whole file, then store all or nothing."""
    cases = read_cases(path, format=fmt)  # type: ignore[arg-type]
    return bank.add_cases(cases, dedup=False)


def expect_rejected(bank: CaseBank, lines: list[str], line: int, fmt: str = "auto") -> FormatError:
    before = snapshot(bank)
    err, path = fz.rejection(lambda p: import_file(bank, p, fmt), FormatError, lines)
    assert snapshot(bank) == before, "a rejected import changed the store"
    assert err.line == line and err.path == str(path)
    assert str(path) in str(err) and f"line {line}:" in str(err)
    return err


# ---------------------------------------------------------------- properties: case files


def same_but_reward(case: Case) -> dict[str, Any]:
    return case.model_dump(exclude={"reward"})


def check_bad_line_is_named_and_store_kept(
    bank: CaseBank, rows: list[dict[str, Any]], at: int, bad: tuple[str, str]
) -> None:
    lines, line = fz.with_bad_line(rows, at, bad)
    expect_rejected(bank, lines, line)


def check_bad_field(fmt: str) -> Callable[[CaseBank, list[dict[str, Any]], int, Any], None]:
    """The property for one format: a spoilt row is refused, named by line and field."""

    def check(bank: CaseBank, rows: list[dict[str, Any]], at: int, spoilt: tuple[str, Any]) -> None:
        lines, line, field = fz.with_spoilt_row(rows, at, spoilt)
        err = expect_rejected(bank, lines, line, fmt)
        assert field in err.problem, f"{err.problem!r} does not name {field!r}"

    return check


def check_accepted_cases_round_trip(bank: CaseBank, rows: list[dict[str, Any]]) -> None:
    before = snapshot(bank)
    with fz.jsonl_file(fz.jsonl(rows)) as path:
        cases = read_cases(path)
        ids = bank.add_cases(cases, dedup=False)
    try:
        assert ids == [c.id for c in cases]
        stored = bank.get_many(ids)
        assert [same_but_reward(s) for s in stored] == [same_but_reward(c) for c in cases]
        # Bit for bit: Chroma's float alone comes back a unit in the last place off at times.
        assert [s.reward for s in stored] == [c.reward for c in cases]
        # Exporting what is stored and importing it again is exact.
        out = fz.write_file([])
        write_cases(out, stored)
        assert read_cases(out) == stored
        out.unlink()
    finally:
        bank.delete([c.id for c in cases if c.id not in {b[0] for b in before}])
    assert snapshot(bank) == before


def check_upstream_rows_read(rows: list[dict[str, Any]]) -> None:
    with fz.jsonl_file(fz.jsonl(rows)) as path:
        cases = read_cases(path)
    assert [(c.task, c.label, c.plan.model_dump()) for c in cases] == [
        (r["case"], r["case_label"], json.loads(r["plan"])) for r in rows
    ]
    assert [c.reward for c in cases] == [float(r["case_label"] == "positive") for r in rows]


def check_mutated_bytes(bank: CaseBank, data: st.DataObject) -> None:
    rows = data.draw(memento_files | upstream_files)
    mutated = data.draw(fz.byte_mutations(fz.encode_lines(fz.jsonl(rows))))
    before = snapshot(bank)
    with fz.bytes_file(mutated) as path:
        try:
            cases = read_cases(path)
        except FormatError as exc:
            assert 0 <= exc.line <= mutated.count(b"\n") + 1 and str(path) in str(exc)
            assert snapshot(bank) == before
            return
    # Mutations that still parse must store and read back exactly (or be refused as a whole).
    known = {b[0] for b in before}
    new_ids = list(dict.fromkeys(c.id for c in cases if c.id not in known))
    try:
        bank.add_cases(cases, dedup=False)
        stored = {c.id: c for c in bank.get_many(new_ids)}
        for case in cases:
            if case.id in stored:
                assert same_but_reward(stored[case.id]) == same_but_reward(case)
                assert stored[case.id].reward == case.reward
    finally:
        bank.delete(new_ids)
    assert snapshot(bank) == before


any_files = memento_files | upstream_files
memento_bad = fz.bad_field(MEMENTO_BAD, ("id", "task", "plan", "label", "reward"))
upstream_bad = fz.bad_field(UPSTREAM_BAD, ("case", "plan", "case_label"))

test_bad_line_named_store_kept, test_bad_line_named_store_kept_long = fz.twin(
    any_files, fz.positions, fz.raw_bad_lines(), short=60
)(check_bad_line_is_named_and_store_kept)
test_bad_memento_field_named, test_bad_memento_field_named_long = fz.twin(
    memento_files, fz.positions, memento_bad, short=60
)(check_bad_field("memento"))
test_bad_upstream_field_named, test_bad_upstream_field_named_long = fz.twin(
    upstream_files, fz.positions, upstream_bad, short=60
)(check_bad_field("upstream"))
test_accepted_cases_round_trip, test_accepted_cases_round_trip_long = fz.twin(
    memento_files, short=30, long=1000
)(check_accepted_cases_round_trip)
test_upstream_rows_read, test_upstream_rows_read_long = fz.twin(upstream_files)(
    check_upstream_rows_read
)
test_mutated_case_file, test_mutated_case_file_long = fz.twin(st.data(), short=40, long=1000)(
    check_mutated_bytes
)
