"""Pairs loader (file:line errors) and the split by query (no query on both sides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memento.memory.q.pairs import Pair, PairsFormatError, load_pairs, read_as, split_by_query


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _row(q: str, c: str, truth: bool) -> dict[str, object]:
    return {"query": q, "case": c, "plan": "{}", "case_label": "positive", "truth_label": truth}


def test_loads_upstream_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", [_row("q1", "c1", True), _row("q1", "c2", True)])
    pairs = load_pairs(path)
    assert [(p.query, p.case, p.reward) for p in pairs] == [("q1", "c1", 1.0), ("q1", "c2", 1.0)]


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"query": "q", "case": "c"}), "truth_label"),
        (json.dumps({"query": "", "case": "c", "truth_label": True}), "query"),
        (json.dumps({"query": "q", "case": "c", "truth_label": "yes"}), "truth_label"),
        (json.dumps([1, 2]), "JSON object"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, bad: str, needle: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_row("q", "c", False)) + "\n\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(PairsFormatError, match=rf"t\.jsonl:3: .*{needle}"):
        load_pairs(path)


def test_empty_file_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(PairsFormatError, match="no rows"):
        load_pairs(path)
    with pytest.raises(PairsFormatError, match="unknown pairs format"):
        load_pairs(path, fmt="csv")


def _pairs(n_queries: int, per_query: int) -> list[Pair]:
    return [
        Pair(query=f"q{i}", case=f"c{j}", reward=float(i % 2))
        for i in range(n_queries)
        for j in range(per_query)
    ]


@settings(max_examples=40, deadline=None)
@given(
    n_queries=st.integers(2, 60),
    per_query=st.integers(1, 8),
    holdout=st.floats(0.05, 0.9),
    seed=st.integers(0, 2**31),
)
def test_split_by_query_never_shares_a_query(
    n_queries: int, per_query: int, holdout: float, seed: int
) -> None:
    pairs = _pairs(n_queries, per_query)
    train, test = split_by_query(pairs, holdout=holdout, seed=seed)
    assert not {p.query for p in train} & {p.query for p in test}
    assert len(train) + len(test) == len(pairs)
    assert len({p.query for p in test}) == round(holdout * n_queries)


def test_read_as_the_label_side_reads_each_case_with_its_label() -> None:
    rows = [Pair("q", "c1", 1.0, "positive"), Pair("q", "c2", 0.0, "negative")]
    assert read_as(rows, "task") == rows
    read = read_as(rows, "label")
    assert [p.case for p in read] == ["[CASE] c1 [LABEL] positive", "[CASE] c2 [LABEL] negative"]
    assert [(p.query, p.reward, p.case_label) for p in read] == [
        ("q", 1.0, "positive"),
        ("q", 0.0, "negative"),
    ]
    with pytest.raises(ValueError, match="pair 2 .*'q2'.* no case_label"):
        read_as([rows[0], Pair("q2", "c3", 1.0)], "label")


def test_split_is_deterministic_per_seed_and_order_free() -> None:
    pairs = _pairs(50, 3)
    a = split_by_query(pairs, holdout=0.2, seed=3)
    b = split_by_query(list(reversed(pairs)), holdout=0.2, seed=3)
    assert {p.query for p in a[1]} == {p.query for p in b[1]}
    c = split_by_query(pairs, holdout=0.2, seed=4)
    assert {p.query for p in a[1]} != {p.query for p in c[1]}
    with pytest.raises(ValueError, match="holdout"):
        split_by_query(pairs, holdout=1.0, seed=0)


@pytest.mark.upstream
def test_upstream_training_data_splits_by_query(upstream_dir: Path) -> None:
    pairs = load_pairs(upstream_dir / "training_data.jsonl")
    assert len(pairs) == 7000
    train, test = split_by_query(pairs, holdout=0.2, seed=0)
    assert not {p.query for p in train} & {p.query for p in test}
    assert len({p.query for p in test}) == round(0.2 * len({p.query for p in pairs}))
