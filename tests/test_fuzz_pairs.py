"""Property tests and a byte-mutation fuzzer over Q training pairs (upstream training_data.jsonl).

Properties: load_pairs raises only PairsFormatError (FileNotFoundError for a missing file); the
message starts with `file:line` of the bad row and names the bad field; rewards stay in [0, 1].
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from memento.memory.pairs import PairsFormatError, load_pairs
from tests.fuzz_support import (
    NOT_STR,
    bad_field,
    byte_mutations,
    dump,
    nonblank,
    raw_bad_lines,
    spoil,
    twin,
    write_file,
)

positions = st.integers(0, 6)

pair_rows = st.fixed_dictionaries(
    {
        "query": nonblank,
        "case": nonblank,
        "truth_label": st.booleans() | st.floats(0.0, 1.0) | st.sampled_from([0, 1]),
    },
    optional={
        "plan": st.text(max_size=40),
        "case_label": st.sampled_from(["positive", "negative"]),
    },
)
PAIR_BAD: dict[str, list[Any]] = {
    "query": [*NOT_STR, "", " \t"],
    "case": [*NOT_STR, "", "\n"],
    "truth_label": [None, "1", "yes", [], -0.1, 1.5, float("nan"), float("inf")],
}


def check_pairs_read(rows: list[dict[str, Any]]) -> None:
    path = write_file([dump(r) for r in rows])
    try:
        pairs = load_pairs(path)
    finally:
        path.unlink()
    assert [(p.query, p.case, p.reward) for p in pairs] == [
        (r["query"], r["case"], float(r["truth_label"])) for r in rows
    ]
    assert all(0.0 <= p.reward <= 1.0 for p in pairs)


def check_bad_pair_row(rows: list[dict[str, Any]], at: int, spoilt: tuple[str, Any]) -> None:
    field, how = spoilt
    at = min(at, len(rows) - 1)
    lines = [dump(r) for r in rows]
    lines[at] = dump(spoil(rows[at], how, field))
    path = write_file(lines)
    try:
        with pytest.raises(PairsFormatError) as err:
            load_pairs(path)
    finally:
        path.unlink()
    assert str(err.value).startswith(f"{path}:{at + 1}: ") and field in str(err.value)


def check_bad_pair_line(rows: list[dict[str, Any]], at: int, bad: tuple[str, str]) -> None:
    lines = [dump(r) for r in rows]
    at = min(at, len(lines))
    lines.insert(at, bad[1])
    path = write_file(lines)
    try:
        with pytest.raises(PairsFormatError) as err:
            load_pairs(path)
    finally:
        path.unlink()
    assert str(err.value).startswith(f"{path}:{at + 1}: ")


def check_mutated_pairs(data: st.DataObject) -> None:
    rows = data.draw(st.lists(pair_rows, min_size=1, max_size=5))
    blob = data.draw(byte_mutations(("\n".join(dump(r) for r in rows) + "\n").encode("utf-8")))
    fd, name = tempfile.mkstemp(prefix="fuzz-", suffix=".jsonl")
    with open(fd, "wb") as out:
        out.write(blob)
    try:
        pairs = load_pairs(name)
    except PairsFormatError as exc:
        assert str(exc).startswith(name)
        return
    finally:
        Path(name).unlink()
    assert pairs and all(
        0.0 <= p.reward <= 1.0 and p.query.strip() and p.case.strip() for p in pairs
    )


pair_files = st.lists(pair_rows, min_size=1, max_size=5)
pair_bad = bad_field(PAIR_BAD, ("query", "case", "truth_label")).filter(
    lambda f: f[1][0] != "extra"
)

test_pairs_read, test_pairs_read_long = twin(pair_files)(check_pairs_read)
test_bad_pair_row_named, test_bad_pair_row_named_long = twin(pair_files, positions, pair_bad)(
    check_bad_pair_row
)
test_bad_pair_line_named, test_bad_pair_line_named_long = twin(
    pair_files, positions, raw_bad_lines()
)(check_bad_pair_line)
test_mutated_pairs_file, test_mutated_pairs_file_long = twin(st.data())(check_mutated_pairs)
