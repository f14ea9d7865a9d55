"""What the nodes run with: models, tools, the case bank, the selector and the Q learner.

Python callers hand objects to `build_graph(...)`; anything not handed in is built from the
run's `Context` (model specs, store location, Q settings) on first use and cached, so a graph
served by LangGraph Studio needs no Python objects at all. Nothing here reads settings or the
environment: the Context's defaults already hold them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from memento.graphs.context import Context
from memento.graphs.models import Role, load_chat_model, resolve_spec
from memento.memory.learning import Learner, NullLearner
from memento.memory.selection import CaseSelector

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank


@dataclass
class Deps:
    """Objects given by the caller; None means 'build from the run's context'."""

    planner: BaseChatModel | str | None = None
    executor: BaseChatModel | str | None = None
    judge: BaseChatModel | str | None = None
    tools: list[BaseTool] | None = None
    case_bank: CaseBank | None = None
    selector: CaseSelector | None = None
    learner: Learner | None = None
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    # Re-entrant: building the Q learner builds (or fetches) the bank under the same lock.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # One per learner: learners are not thread-safe (optimizer state), tasks run concurrently.
    _learner_locks: dict[int, threading.Lock] = field(default_factory=dict, repr=False)

    def _cached(self, key: tuple[Any, ...], build: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def model(self, role: Role, ctx: Context) -> BaseChatModel:
        """The chat model for a role: the object given, else the context's spec."""
        given = {"planner": self.planner, "executor": self.executor, "judge": self.judge}[role]
        if isinstance(given, BaseChatModel):
            return given
        role_spec = given or getattr(ctx, f"{role}_model")
        return load_chat_model(resolve_spec(role, role_spec, ctx.llm))

    def has_judge(self, ctx: Context) -> bool:
        """True when a judge model was given or configured for the judge role itself.

        Self-judging (no ground truth) only happens then; it never borrows the shared `llm`
        spec. With reward_metric='llm', `model("judge", ...)` may fall back to `llm`.
        """
        return self.judge is not None or bool(ctx.judge_model)

    def executor_tools(self, ctx: Context) -> list[BaseTool]:
        """Tools for the executor: those given, else the registry's tools named in the context."""
        if self.tools is not None:
            return self.tools
        names = tuple(n.strip() for n in ctx.tools.split(",") if n.strip())

        def build() -> list[BaseTool]:
            from memento.tools.config import CorpusConfig, ToolsConfig
            from memento.tools.registry import load_tools

            corpus = CorpusConfig(path=store_home(ctx) / "corpus", url=ctx.chroma_url or None)
            tools = load_tools([n for n in names if n != "case_search"], ToolsConfig(corpus=corpus))
            if "case_search" in names:  # past cases per subtask, from this run's bank and policy
                from memento.tools.case_search import build_case_search

                selector = lambda: self.case_selector(ctx)  # noqa: E731 - built on first use
                tools.append(build_case_search(selector, k=ctx.k, namespace=ctx.namespace))
            return tools

        key = ("tools", names, str(store_home(ctx)), ctx.namespace, ctx.selection, ctx.k)
        return list(self._cached(key, build))

    def bank(self, ctx: Context) -> CaseBank:
        """The case bank given, else the one at the context's location."""
        if self.case_bank is not None:
            return self.case_bank
        url = ctx.chroma_url or None
        home = store_home(ctx)

        def build() -> CaseBank:
            from memento.memory.case_bank import CaseBank

            return CaseBank.from_settings(path=home / "chroma", url=url)

        bank: CaseBank = self._cached(("bank", str(home), url), build)
        return bank

    def case_selector(self, ctx: Context) -> CaseSelector:
        """The selector given, else the policy the context names over the bank."""
        if self.selector is not None:
            return self.selector
        bank = self.bank(ctx)
        if ctx.selection in ("q", "q_softmax"):
            learner = self.q_learner(ctx)
            with self.learner_lock(learner):
                return learner.selector(greedy=ctx.selection == "q", temperature=ctx.temperature)
        from memento.memory.similarity import SimilaritySelector

        return SimilaritySelector(bank)

    def learner_lock(self, learner: Learner) -> threading.Lock:
        """The lock under which `learner`'s record and selector calls run, one at a time."""
        with self._lock:
            return self._learner_locks.setdefault(id(learner), threading.Lock())

    def q_learner(self, ctx: Context) -> Learner:
        """The learner given, else the one the context's Q fields describe (`open_learner`).

        A run whose selection policy is not in `ctx.q_train` gets a `NullLearner` (it records
        nothing). Learners are cached per store, share and namespace for the graph's life.
        """
        if self.learner is not None:
            return self.learner
        if not ctx.q_trains():
            home = str(store_home(ctx))
            null: Learner = self._cached(("null", home), lambda: NullLearner(self.bank(ctx)))
            return null
        folder = store_home(ctx) / "q"
        key = ("learner", str(folder), ctx.q_share, ctx.namespace if ctx.q_share else "")
        learner: Learner = self._cached(key, lambda: open_learner(ctx, self.bank(ctx), folder))
        return learner


def open_learner(ctx: Context, bank: CaseBank, folder: Path) -> Learner:
    """The Q learner the context's Q fields describe, over `bank`.

    `ctx.q_form == "kernel"` (the default): a `KernelLearner` whose runs are kept in
    `folder`/replay.sqlite. A network form with `ctx.q_share` (a postgres:// DSN or a shared
    folder): a `QWorker` that only logs transitions (channel = the run's namespace; `memento q
    serve-trainer` trains); otherwise a `QLearner` that trains in this process, with its
    checkpoint and replay in `folder`.

    Raises:
        ValueError: q_share with the kernel form (sharing trains a network).
    """
    from dataclasses import replace

    if ctx.q_form == "kernel":
        if ctx.q_share:
            raise ValueError(
                "q_share (MEMENTO_Q_SHARE) shares a trained Q network; the kernel form has none. "
                "Set q_form='mlp' or 'residual' to share, or unset q_share"
            )
        from memento.memory.q.kernel import KernelConfig, KernelLearner

        kernel = KernelConfig(shortlist=max(ctx.q_shortlist, 1))
        return KernelLearner.open(bank, folder, kernel, seed=ctx.q_seed)
    from memento.memory.q.config import LearnerConfig, bank_config

    config = replace(bank_config(bank), form=ctx.q_form, lr=ctx.q_lr, seed=ctx.q_seed)
    settings = LearnerConfig(
        steps_per_record=ctx.q_steps_per_record,
        unused_weight=ctx.q_unused_weight,
        shortlist=ctx.q_shortlist,
        exact_below=ctx.q_exact_below,
    )
    if ctx.q_share:
        from memento.memory.q.share import QWorker, open_share

        share = open_share(ctx.q_share, bank, channel=ctx.namespace)
        return QWorker(bank, share, config, settings, namespace=ctx.namespace)
    from memento.memory.q.learner import QLearner

    return QLearner.open(bank, folder, config, settings)


def store_home(ctx: Context) -> Path:
    """The store folder for a run: the context's (./.memento when empty)."""
    return Path(ctx.home or ".memento")
