"""Every knob of the simulated world and of the simulated models, with documented defaults.

The defaults describe a small world (about 50 tasks per epoch) whose run finishes in a few
minutes on two CPU cores. Nothing here is read from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_PRIOR: dict[str, float] = {
    "birth_year": 0.85,
    "spouse_year": 0.55,
    "birth_city": 0.85,
    "employer_city": 0.45,
    "spouse_father_year": 0.35,
    "father_spouse_year": 0.35,
    "born_earlier": 0.6,
    "born_later": 0.6,
    "children_count": 0.7,
    "siblings_count": 0.35,
}
"""Probability that the simulated planner's unaided guess is the right plan, per family."""
QUESTIONS: tuple[str, ...] = ("repeat", "fresh")
"""The question protocols `SimConfig.questions` accepts."""


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """The simulated world and models. All randomness derives from `seed`."""

    seed: int = 7
    """Seed of the world (people, tasks, order) and of every simulated decision."""
    families: tuple[str, ...] = (
        "birth_year",
        "birth_city",
        "spouse_father_year",
        "born_earlier",
        "children_count",
    )
    """Base task families (see `memento.sim.families.FAMILIES`)."""
    distractors: bool = True
    """Add each base family's surface-similar twin (same wording and people, another plan)."""
    tasks_per_family: int = 5
    """Tasks generated per family (so 2 x 5 x 5 = 50 per epoch with the defaults)."""
    generations: int = 3
    """Generations of people in the knowledge base."""
    couples: int = 8
    """Couples in the first generation (later generations descend from them)."""
    follow_p: float = 0.9
    """Probability the planner adapts the plan of a shown positive case it takes for same-family."""
    confusion_p: float = 0.85
    """Probability the planner takes a shown case of the twin family for one of its own family
    (the surface similarity that misleads a real LLM)."""
    prior_accuracy: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIOR))
    """Per-family probability that the planner's guess without usable cases is right."""
    noise: float = 0.03
    """Probability the executor misreads a fact (takes another passage's value)."""
    epochs: int = 3
    """Epochs of the protocol (memory carries over between them)."""
    questions: str = "repeat"
    """"repeat": every epoch asks the same questions again (the evaluation harness's
    passes over one task set); "fresh": every epoch asks new questions of the same families
    (new people), so a case of the very same question is never in the bank."""
    k: int = 4
    """Cases shown to the planner."""
    concurrency: int = 1
    """Tasks run at once. 1 keeps runs identical for a seed (with more, the order in which tasks
    finish, and so what the bank holds for the next one, depends on timing); on two cores it is
    also the fastest."""
    q_shortlist: int = 16
    """Most similar cases that the Q-function re-ranks (the design's ANN shortlist, in small
    banks too); 0 scores every case of the bank."""
    q_form: str = "kernel"
    """Q form, as `Context.q_form`: "kernel" (the library default: kernel episodic control over
    logged tries, no network: `memento.memory.q.kernel`), or a network trained online:
    "residual" (similarity plus a learned correction) or "mlp" (`memento.memory.q.network`)."""
    q_steps_per_record: int = 4
    """Q-learner update steps after each finished task (the Q learner's default: 1)."""
    q_lr: float = 1e-3
    """Learning rate of the Q network (the Q learner's default: 1e-3)."""
    q_unused_weight: float = 0.0
    """Loss weight of shown cases the planner did not use (the Q learner's default: 0.3). The
    simulated planner reports what it used and an unused case did not change the plan, so its
    row would only teach the task's outcome to a case that had no part in it."""
    q_temperature: float = 0.0
    """0: the Q policy shows the top-K cases (greedy); above 0: it samples them from
    softmax(Q / temperature) (exploration, the graph's q_softmax selection)."""
    q_retrain_epochs: int = 0
    """After each epoch but the last, retrain Q from scratch on the whole replay buffer for this
    many passes (0: online updates only, as in the paper)."""
    dedup_threshold: float | None = None
    """Case-bank near-duplicate merging (None: off; the twins are near-duplicates by design)."""

    def __post_init__(self) -> None:
        """Validate ranges and family names."""
        from memento.sim.families import FAMILIES

        for name in ("follow_p", "confusion_p", "noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SimConfig.{name} must be in [0, 1], got {value}")
        if (
            min(self.q_shortlist, self.q_steps_per_record, self.q_retrain_epochs) < 0
            or self.q_lr <= 0
            or self.q_temperature < 0
        ):
            raise ValueError(
                "SimConfig: q_shortlist, q_steps_per_record, q_retrain_epochs, q_temperature "
                "must be >= 0 and q_lr > 0"
            )
        if self.questions not in QUESTIONS:
            raise ValueError(
                f"SimConfig.questions must be one of {QUESTIONS}, got {self.questions!r}"
            )
        from memento.memory.q.network import FORMS

        if self.q_form not in (*FORMS, "kernel"):
            raise ValueError(
                f"SimConfig.q_form must be one of {(*FORMS, 'kernel')}, got {self.q_form!r}"
            )
        for name in ("tasks_per_family", "epochs", "k", "concurrency", "couples", "generations"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimConfig.{name} must be >= 1, got {getattr(self, name)}")
        unknown = [f for f in self.families if f not in FAMILIES or FAMILIES[f].twin_of]
        if unknown or not self.families:
            base = sorted(n for n, f in FAMILIES.items() if not f.twin_of)
            raise ValueError(f"SimConfig.families: unknown base families {unknown}; use {base}")
        for fam, p in self.prior_accuracy.items():
            if fam not in FAMILIES or not 0.0 <= p <= 1.0:
                raise ValueError(f"SimConfig.prior_accuracy[{fam!r}] = {p} is not valid")

    def prior(self, family: str) -> float:
        """Prior accuracy of a family (0.5 when not listed)."""
        return self.prior_accuracy.get(family, 0.5)

    def with_(self, **changes: Any) -> SimConfig:
        """A copy with some knobs changed."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for reports and --json)."""
        out = dict(vars(self))
        out["families"] = list(self.families)
        out["prior_accuracy"] = dict(self.prior_accuracy)
        return out
