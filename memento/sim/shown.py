"""What the simulated planner was shown first: same family, twin family or another family.

Reads a demo run's results (no bank needed: a case id ends with the thread id, which ends with
the task id "<family>-<n>"), so the share of tasks whose first shown case was a misleading twin
can be compared between memory modes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from memento.eval.results import read_results
from memento.sim.families import twin

KINDS: tuple[str, ...] = ("same", "twin", "other")
"""How a shown case's family relates to the task's."""


def case_family(case_id: str) -> str:
    """Family of the task that wrote the case `case_id` (demo case ids only)."""
    return case_id.rsplit(":", 1)[-1].rsplit("-", 1)[0]


def first_shown(run_folder: Path, *, from_epoch: int = 2) -> dict[str, Counter[str]]:
    """Per memory mode: how many tasks (epoch >= `from_epoch`) saw each kind of case first."""
    out: dict[str, Counter[str]] = {}
    for row in read_results(run_folder):
        if row.epoch < from_epoch or not row.case_ids:
            continue
        family = case_family(row.case_ids[0])
        kind = "same" if family == row.data_source else "twin"
        if family not in (row.data_source, twin(row.data_source)):
            kind = "other"
        out.setdefault(row.memory, Counter())[kind] += 1
    return out
