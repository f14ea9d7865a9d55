"""What the nodes run with: models, tools, the case bank, the selector and the Q learner.

Python callers hand objects to `build_graph(...)`; anything not handed in is built from the
run's `Context` (model specs, store location) on first use and cached, so a graph served by
LangGraph Studio needs no Python objects at all.
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
from memento.settings import get_settings

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank
    from memento.memory.selection import CaseSelector


@dataclass
class Deps:
    """Objects given by the caller; None means 'build from the run's context'."""

    planner: BaseChatModel | str | None = None
    executor: BaseChatModel | str | None = None
    judge: BaseChatModel | str | None = None
    tools: list[BaseTool] | None = None
    case_bank: CaseBank | None = None
    selector: CaseSelector | None = None
    learner: Any = None
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    # Re-entrant: building the Q learner builds (or fetches) the bank under the same lock.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

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
        return self.judge is not None or bool(ctx.judge_model or get_settings().judge_model)

    def executor_tools(self, ctx: Context) -> list[BaseTool]:
        """Tools for the executor: those given, else the registry's tools named in the context."""
        if self.tools is not None:
            return self.tools
        names = tuple(n.strip() for n in ctx.tools.split(",") if n.strip())

        def build() -> list[BaseTool]:
            from memento.tools.config import CorpusConfig, ToolsConfig
            from memento.tools.registry import load_tools

            corpus = CorpusConfig(path=store_home(ctx) / "corpus", url=ctx.chroma_url or None)
            return load_tools(names, ToolsConfig(corpus=corpus))

        return list(self._cached(("tools", names, str(store_home(ctx))), build))

    def bank(self, ctx: Context) -> CaseBank:
        """The case bank given, else the one at the context's location."""
        if self.case_bank is not None:
            return self.case_bank
        url = ctx.chroma_url or get_settings().chroma_url or None
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
            return learner.selector(greedy=ctx.selection == "q", temperature=ctx.temperature)  # type: ignore[no-any-return]
        from memento.memory.similarity import SimilaritySelector

        return SimilaritySelector(bank)

    def q_learner(self, ctx: Context) -> Any:
        """The online Q learner given, else one built from the settings.

        With MEMENTO_Q_SHARE (a postgres:// DSN or a shared folder) this process is a worker
        (`memento.memory.q_share.QWorker`, channel = the run's namespace) and a separate
        `memento q serve-trainer` trains; otherwise the learner next to the bank trains here.
        """
        if self.learner is not None:
            return self.learner
        home = store_home(ctx)
        share = get_settings().q_share

        def build() -> Any:
            if share:
                from memento.memory.q_share import QWorker, open_share

                bank = self.bank(ctx)
                channel = ctx.namespace
                return QWorker(bank, open_share(share, bank, channel=channel), namespace=channel)
            from memento.memory.q_learner import QLearner

            return QLearner.open(self.bank(ctx), home / "q")

        key = ("learner", str(home), share or "", ctx.namespace if share else "")
        return self._cached(key, build)


def store_home(ctx: Context) -> Path:
    """The store folder for a run: the context's, else MEMENTO_HOME."""
    return Path(ctx.home) if ctx.home else get_settings().home
