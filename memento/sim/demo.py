"""The `memento demo` driver: the continual-learning protocol in the SIMULATED world.

Steps: build the world from the seed, write its documents and index them into a local corpus
(the executor's real search tool), then for each memory mode (none, similarity, q) run the
evaluation harness's `run_eval` epoch by epoch with fresh simulated models, a fresh case bank
and (mode q) a fresh Q learner built from the context's Q fields as `memento run` builds one.
The result holds accuracy per epoch per mode with 95% bootstrap intervals, and the
learning-curve plot is written with the evaluation report's plotting code.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memento.sim.config import SimConfig

if TYPE_CHECKING:
    from memento.eval.group_scores import GroupSummary
    from memento.graphs.context import QForm

MODES: tuple[str, ...] = ("none", "similarity", "q")
SIMULATED_NOTICE = (
    "NOTE: the planner and executor in this demo are SIMULATED (memento.sim), not language "
    "models. They read the graph's real prompts and call the real corpus search tool, but their "
    "decisions are scripted: the planner adapts a shown positive case of what it takes for the "
    "same kind of task with probability follow_p, mistakes a surface-similar twin task for the "
    "same kind with probability confusion_p, avoids plans of same-looking negative cases, and "
    "otherwise guesses a plan that is right with a per-family prior probability. The numbers "
    "show how the memory machinery (case bank, similarity retrieval, online Q-learning) behaves "
    "under these assumptions; they say nothing about any real LLM's accuracy."
)
Say = Callable[[str], None]


@dataclass
class DemoResult:
    """Accuracy per epoch per memory mode, with intervals and where the files went."""

    config: SimConfig
    tasks: int
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    low: dict[str, list[float]] = field(default_factory=dict)
    high: dict[str, list[float]] = field(default_factory=dict)
    per_family: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    first_shown: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per mode, over epochs 2+: tasks whose first shown case was of the same family, of the
    twin family, or of another (`memento.sim.shown`)."""
    folder: Path | None = None
    plot: list[Path] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The numbers as one JSON-friendly object."""
        return {
            "simulated": True,
            "note": SIMULATED_NOTICE,
            "seed": self.config.seed,
            "epochs": self.config.epochs,
            "questions": self.config.questions,
            "tasks_per_epoch": self.tasks,
            "accuracy": self.accuracy,
            "ci95": {m: list(zip(self.low[m], self.high[m], strict=True)) for m in self.low},
            "per_family": self.per_family,
            "first_shown": self.first_shown,
            "seconds": self.seconds,
            "config": self.config.as_dict(),
            "folder": str(self.folder) if self.folder else None,
            "plot": [str(p) for p in self.plot],
        }


@dataclass
class ModeScores:
    """One memory mode's accuracy per epoch, and its per-epoch summary groups."""

    accuracy: list[float] = field(default_factory=list)
    groups: list[GroupSummary] = field(default_factory=list)


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def prepare_world(config: SimConfig, folder: Path, say: Say = _stderr) -> tuple[Any, Any, Any]:
    """Build the world, write and index its documents; return (world, search tool, embeddings)."""
    from memento.memory.embeddings import default_embeddings
    from memento.sim.world import World
    from memento.tools.config import CorpusConfig
    from memento.tools.corpus_index import CorpusIndexer
    from memento.tools.corpus_search import build_corpus_search

    world = World(config)
    docs = world.write_documents(folder / "documents")
    say(f"world: {len(world.people)} people, {len(docs)} documents, {len(world.tasks)} tasks")
    embeddings = default_embeddings()
    corpus = CorpusConfig(path=folder / "corpus", collection="sim_corpus")
    report = CorpusIndexer(corpus, embeddings).index([folder / "documents"])
    say(f"corpus: indexed {report.indexed} documents ({report.chunks} chunks)")
    return world, build_corpus_search(corpus), embeddings


async def run_mode(
    mode: str,
    world: Any,
    tool: Any,
    embeddings: Any,
    folder: Path,
    say: Say = _stderr,
) -> ModeScores:
    """All epochs of one memory mode: accuracy per epoch and the summary groups."""
    from memento.eval.run_config import EvalConfig
    from memento.eval.runner import run_eval
    from memento.graphs.context import Context
    from memento.graphs.deps import open_learner
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.learner import QLearner
    from memento.sim.executor import SimExecutorModel
    from memento.sim.planner import SimPlannerModel

    config: SimConfig = world.config
    explore = config.q_temperature > 0
    context = Context(
        k=config.k,
        max_cycles=1,
        tools="corpus_search",
        selection="q_softmax" if explore else "q",
        temperature=config.q_temperature if explore else 1.0,
        q_form=cast("QForm", config.q_form),  # validated by SimConfig
        q_lr=config.q_lr,
        q_seed=config.seed,
        q_steps_per_record=config.q_steps_per_record,
        q_unused_weight=config.q_unused_weight,
        q_shortlist=max(config.q_shortlist, 1),
        q_exact_below=0 if config.q_shortlist else 10**9,  # shortlist 0: score every case
        q_share="",  # always a fresh in-process learner, whatever MEMENTO_Q_SHARE says
    )
    bank = learner = None
    if mode != "none":
        bank = CaseBank(
            path=folder / "banks" / mode,
            collection=f"sim_{mode}",
            embeddings=embeddings,
            dedup_threshold=config.dedup_threshold,
        )
    if mode == "q":
        assert bank is not None
        # Built as `memento run` builds it (`open_learner`), but kept across the epochs' calls.
        learner = open_learner(context, bank, folder / "q")
    planner = SimPlannerModel.from_config(config)
    executor = SimExecutorModel.from_config(config)
    scores = ModeScores()
    for epoch in range(1, config.epochs + 1):
        began = time.perf_counter()
        summary = await run_eval(
            world.eval_tasks(epoch),
            EvalConfig(
                memory=mode,  # type: ignore[arg-type]
                epochs=epoch,
                first_epoch=epoch,
                seed=config.seed,
                concurrency=config.concurrency,
                out=folder / "run",
                context=context,
            ),
            planner=planner,
            executor=executor,
            tools=[tool],
            case_bank=bank,
            learner=learner,
            progress=True,
        )
        if isinstance(learner, QLearner) and config.q_retrain_epochs and epoch < config.epochs:
            losses = learner.retrain(config.q_retrain_epochs)
            say(f"  [{mode:>10}] retrained Q on the replay buffer: loss {losses[-1]:.3f}")
        acc = summary.epochs[epoch - 1].accuracy
        scores.accuracy.append(acc)
        scores.groups.extend(g for g in summary.groups if g.epoch == epoch)
        say(
            f"  [{mode:>10}] epoch {epoch}/{config.epochs}: accuracy {100 * acc:5.1f}% "
            f"({time.perf_counter() - began:.0f} s)"
        )
    return scores


async def run_demo(
    config: SimConfig,
    folder: Path | None = None,
    *,
    modes: Sequence[str] = MODES,
    plot: bool = True,
    say: Say = _stderr,
) -> DemoResult:
    """Run the protocol for `modes` in a fresh world under `folder` (a temporary one if None)."""
    from memento.eval.group_scores import ALL_SOURCES

    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="memento-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"demo folder {folder} is not empty; give a new or empty folder")
    say(f"demo folder: {folder}")
    world, tool, embeddings = prepare_world(config, folder, say)
    result = DemoResult(config=config, tasks=len(world.eval_tasks(1)), folder=folder)
    series = []
    for mode in modes:
        began = time.perf_counter()
        say(f"memory mode {mode}:")
        scores = await run_mode(mode, world, tool, embeddings, folder, say)
        result.seconds[mode] = round(time.perf_counter() - began, 1)
        result.accuracy[mode] = scores.accuracy
        overall = sorted(
            (g for g in scores.groups if g.source == ALL_SOURCES), key=lambda g: g.epoch
        )
        result.low[mode] = [g.accuracy.low for g in overall]
        result.high[mode] = [g.accuracy.high for g in overall]
        fams: dict[str, list[float]] = {}
        for g in sorted(scores.groups, key=lambda g: g.epoch):
            if g.source != ALL_SOURCES:
                fams.setdefault(g.source, []).append(g.accuracy.mean)
        result.per_family[mode] = fams
        series.append((f"{mode} (simulated)", scores.groups))
    from memento.sim.shown import KINDS, first_shown

    for mode, counts in first_shown(folder / "run").items():
        result.first_shown[mode] = {kind: counts[kind] for kind in KINDS}
    if plot:
        from memento.eval.plots import learning_curve

        result.plot = learning_curve(series, folder / "learning_curve", "deepresearcher")
    return result


def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{100 * x:5.1f}"


def format_table(result: DemoResult) -> str:
    """Accuracy per epoch (rows) per memory mode (columns), with 95% intervals, as Markdown."""
    modes = list(result.accuracy)
    head = "| epoch | " + " | ".join(f"{m} (95% CI)" for m in modes) + " |"
    lines = [head, "|" + "---|" * (len(modes) + 1)]
    for e in range(result.config.epochs):
        cells = [
            f"{_pct(result.accuracy[m][e])} [{_pct(result.low[m][e])}, {_pct(result.high[m][e])}]"
            for m in modes
        ]
        lines.append(f"| {e + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
