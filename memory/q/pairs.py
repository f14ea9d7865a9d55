"""Logged (query, case, outcome) pairs for the Q-function: upstream loader, split by query.

Upstream's training_data.jsonl has one row per case shown to the planner for a query:
{"query", "case", "plan", "case_label", "truth_label"}. The outcome (truth_label) belongs to the
query, so the rows of one query share it: a held-out set must be split BY QUERY, never by row,
or the same query lands on both sides and the measured AUC leaks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from memento.infra.jsonl import loads_line
from memento.memory.labelled import labelled_text

UPSTREAM_FIELDS = ("query", "case", "truth_label")


class PairsFormatError(ValueError):
    """A pairs file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Pair:
    """One logged pair: a query, a case shown for it, and the query's reward in [0, 1]."""

    query: str
    """The task text (state s)."""
    case: str
    """The shown case's task text (what the bank embeds for that case)."""
    reward: float
    """The outcome of the run for `query`: 1 success, 0 failure, or a graded value."""
    case_label: str | None = None
    """The shown case's own label (positive/negative), when the log has it."""
    plan: str | None = None
    """The shown case's plan text, when the log has it."""


def _read_row(raw: dict[str, object], where: str) -> Pair:
    for key in UPSTREAM_FIELDS:
        if key not in raw:
            raise PairsFormatError(f"{where}: missing field {key!r}")
    query, case, truth = raw["query"], raw["case"], raw["truth_label"]
    if not isinstance(query, str) or not query.strip():
        raise PairsFormatError(f"{where}: 'query' must be a non-empty string")
    if not isinstance(case, str) or not case.strip():
        raise PairsFormatError(f"{where}: 'case' must be a non-empty string")
    if isinstance(truth, bool):
        reward = 1.0 if truth else 0.0
    elif isinstance(truth, int | float) and 0.0 <= float(truth) <= 1.0:
        reward = float(truth)
    else:
        raise PairsFormatError(f"{where}: 'truth_label' must be a bool or a number in [0, 1]")
    label = raw.get("case_label")
    plan = raw.get("plan")
    return Pair(
        query=query,
        case=case,
        reward=reward,
        case_label=label if isinstance(label, str) else None,
        plan=plan if isinstance(plan, str) else None,
    )


def load_pairs(path: Path | str, *, fmt: str = "upstream") -> list[Pair]:
    """Read a pairs file (JSON Lines); blank lines are skipped.

    Args:
        path: The file, e.g. upstream's training_data.jsonl.
        fmt: The row format; only "upstream" is known.

    Raises:
        PairsFormatError: naming `file:line` for the first malformed row, or an empty file.
        FileNotFoundError: when the file does not exist.
    """
    if fmt != "upstream":
        raise PairsFormatError(f"unknown pairs format {fmt!r} (known: 'upstream')")
    path = Path(path)
    pairs: list[Pair] = []
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder, no permission
        raise PairsFormatError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    with handle:
        for number, raw_line in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PairsFormatError(f"{where}: not UTF-8 text ({exc.reason})") from None
            if not line.strip():
                continue
            try:
                raw = loads_line(line)
            except json.JSONDecodeError as exc:
                raise PairsFormatError(f"{where}: invalid JSON ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise PairsFormatError(f"{where}: expected a JSON object")
            pairs.append(_read_row(raw, where))
    if not pairs:
        raise PairsFormatError(f"{path}: no rows")
    return pairs


def split_by_query(
    pairs: Sequence[Pair], *, holdout: float, seed: int
) -> tuple[list[Pair], list[Pair]]:
    """Split rows into (train, test) so that no query appears on both sides.

    The unique queries are sorted, shuffled with `numpy.random.default_rng(seed)` and the first
    round(holdout * n_queries) go to the test side, so the same seed gives the same split.

    Raises:
        ValueError: when `holdout` is outside [0, 1).
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    queries = np.array(sorted({p.query for p in pairs}), dtype=object)
    rng = np.random.default_rng(seed)
    rng.shuffle(queries)
    n_test = int(round(holdout * len(queries)))
    test_queries = set(queries[:n_test].tolist())
    train = [p for p in pairs if p.query not in test_queries]
    test = [p for p in pairs if p.query in test_queries]
    return train, test


def read_as(pairs: Sequence[Pair], side: str) -> list[Pair]:
    """`pairs` with each case text as a network reading `side` (`QConfig.case_side`) reads it.

    "task" keeps the case's task; "label" reads it with its label, as the bank does
    (`memento.memory.labelled.labelled_text`).

    Raises:
        ValueError: "label" and a row without a case_label (named by its position and query).
    """
    if side == "task":
        return list(pairs)
    out: list[Pair] = []
    for number, p in enumerate(pairs, start=1):
        if p.case_label is None:
            raise ValueError(
                f"pair {number} (query {p.query[:60]!r}) has no case_label, which Q's label case "
                "side reads; train with the task case side (`memento q train --case-side task`, "
                "QConfig(case_side='task'))"
            )
        out.append(replace(p, case=labelled_text(p.case, p.case_label)))
    return out


def unique_texts(pairs: Iterable[Pair]) -> list[str]:
    """Every distinct query and case text, sorted (what needs one embedding each)."""
    texts: set[str] = set()
    for p in pairs:
        texts.add(p.query)
        texts.add(p.case)
    return sorted(texts)
