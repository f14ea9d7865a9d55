"""The one interface every learner implements, its one report type, and the learner of nothing.

CONTRACT: the graph's update_q node records each finished run through `Learner.record`, and the
retrieve_cases node asks `Learner.selector` for the Q read policy. The single-process
`memento.memory.q.learner.QLearner`, the shared-Q `memento.memory.q.share.QWorker` and
`NullLearner` satisfy it. A learner need not be thread-safe: the graph's `Deps` calls `record`
and `selector` of one learner one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from memento.memory.selection import CaseSelector

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank


@dataclass(frozen=True)
class UpdateReport:
    """What one `record` call did (every learner fills the fields that apply to it)."""

    transition_id: int | None = None
    """Row id of the stored transition (None when nothing was stored here)."""
    credit: dict[str, float] = field(default_factory=dict)
    """Loss weight given to each shown case."""
    loss: float | None = None
    """Mean loss of the update steps taken (None when none were taken)."""
    steps: int = 0
    """Total optimisation steps of the network so far."""
    version: int | None = None
    """Checkpoint version saved by this call, if any."""
    evicted: list[str] = field(default_factory=list)
    """Ids of the cases evicted for the budget."""
    missing: list[str] = field(default_factory=list)
    """Shown ids no longer in the bank (skipped)."""
    duplicate: bool = False
    """True when the key was already recorded (nothing was done)."""
    logged: bool = False
    """True when the transition went to a shared log for a separate trainer (a worker)."""
    acting_version: int | None = None
    """Published weights version a worker acts on (None outside sharing)."""
    skipped: str | None = None
    """Why nothing was recorded (None when something was)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON-friendly form kept in the graph's state."""
        return asdict(self)


@runtime_checkable
class Learner(Protocol):
    """Learns from finished runs and gives the Q read policy it learns."""

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        key: str | None = None,
        relabel: bool = False,
        shown_labels: Sequence[str] | None = None,
    ) -> UpdateReport:
        """Learn from one run: the cases shown, those the planner used, and the reward.

        `shown_labels` are the shown cases' labels as the planner saw them (None: unknown).
        """
        ...

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> CaseSelector:
        """The read policy over the learned values (greedy, or softmax at `temperature`)."""
        ...

    def close(self) -> None:
        """Release files and connections (nothing else is done after it)."""
        ...


class NullLearner:
    """Learns nothing: runs whose selection policy trains no Q-function record here."""

    def __init__(self, bank: CaseBank | None = None, reason: str = "") -> None:
        """`bank` serves `selector` (similarity: there are no learned values to rank by)."""
        self.bank = bank
        self.reason = reason or "no Q-function in this memory mode"

    def record(
        self,
        task: str,
        shown_ids: Sequence[str],
        used_ids: Sequence[str] | None,
        reward: float,
        *,
        namespace: str | None = None,
        key: str | None = None,
        relabel: bool = False,
        shown_labels: Sequence[str] | None = None,
    ) -> UpdateReport:
        """Ignore the transition; the report says why."""
        return UpdateReport(skipped=self.reason)

    def selector(self, *, greedy: bool = True, temperature: float = 0.1) -> CaseSelector:
        """Similarity over the bank given at construction.

        Raises:
            LookupError: no bank was given.
        """
        if self.bank is None:
            raise LookupError("NullLearner has no case bank to select from")
        from memento.memory.similarity import SimilaritySelector

        return SimilaritySelector(self.bank)

    def close(self) -> None:
        """Nothing to release."""
