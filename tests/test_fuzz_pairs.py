"""Property tests and a byte-mutation fuzzer over Q training pairs (upstream training_data.jsonl).

Properties: load_pairs raises only PairsFormatError (FileNotFoundError for a missing file); the
message starts with `file:line` of the bad row and names the bad field; rewards stay in [0, 1].
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from memento.memory.q.pairs import PairsFormatError, load_pairs
from tests.support import fuzz as fz

pair_rows = st.fixed_dictionaries(
    {
        "query": fz.nonblank,
        "case": fz.nonblank,
        "truth_label": st.booleans() | st.floats(0.0, 1.0) | st.sampled_from([0, 1]),
    },
    optional={
        "plan": st.text(max_size=40),
        "case_label": st.sampled_from(["positive", "negative"]),
    },
)
PAIR_BAD: dict[str, list[Any]] = {
    "query": [*fz.NOT_STR, "", " \t"],
    "case": [*fz.NOT_STR, "", "\n"],
    "truth_label": [None, "1", "yes", [], -0.1, 1.5, float("nan"), float("inf")],
}


def check_pairs_read(rows: list[dict[str, Any]]) -> None:
    with fz.jsonl_file(fz.jsonl(rows)) as path:
        pairs = load_pairs(path)
    assert [(p.query, p.case, p.reward) for p in pairs] == [
        (r["query"], r["case"], float(r["truth_label"])) for r in rows
    ]
    assert all(0.0 <= p.reward <= 1.0 for p in pairs)


def check_bad_pair_row(rows: list[dict[str, Any]], at: int, spoilt: tuple[str, Any]) -> None:
    lines, line, field = fz.with_spoilt_row(rows, at, spoilt)
    err, path = fz.rejection(load_pairs, PairsFormatError, lines)
    assert str(err).startswith(f"{path}:{line}: ") and field in str(err)


def check_bad_pair_line(rows: list[dict[str, Any]], at: int, bad: tuple[str, str]) -> None:
    lines, line = fz.with_bad_line(rows, at, bad)
    err, path = fz.rejection(load_pairs, PairsFormatError, lines)
    assert str(err).startswith(f"{path}:{line}: ")


def check_mutated_pairs(data: st.DataObject) -> None:
    rows = data.draw(st.lists(pair_rows, min_size=1, max_size=5))
    blob = data.draw(fz.byte_mutations(fz.encode_lines(fz.jsonl(rows))))
    with fz.bytes_file(blob) as path:
        try:
            pairs = load_pairs(path)
        except PairsFormatError as exc:
            assert str(exc).startswith(str(path))
            return
    assert pairs and all(
        0.0 <= p.reward <= 1.0 and p.query.strip() and p.case.strip() for p in pairs
    )


pair_files = st.lists(pair_rows, min_size=1, max_size=5)
pair_bad = fz.bad_field(PAIR_BAD, ("query", "case", "truth_label")).filter(
    lambda f: f[1][0] != "extra"
)

test_pairs_read, test_pairs_read_long = fz.twin(pair_files)(check_pairs_read)
test_bad_pair_row_named, test_bad_pair_row_named_long = fz.twin(pair_files, fz.positions, pair_bad)(
    check_bad_pair_row
)
test_bad_pair_line_named, test_bad_pair_line_named_long = fz.twin(
    pair_files, fz.positions, fz.raw_bad_lines()
)(check_bad_pair_line)
test_mutated_pairs_file, test_mutated_pairs_file_long = fz.twin(st.data())(check_mutated_pairs)
