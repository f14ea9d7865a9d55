"""One evaluation task through the graph: its thread id, resuming from checkpoints, its result row.

A task's thread id is fixed by (memory mode, epoch, task id), so re-running an interrupted
evaluation continues each unfinished thread from its last checkpoint, and a thread that finished
but whose row was lost (a crash between the two) gives its row back without running again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult

from memento.eval.datasets import Task
from memento.eval.results import ResultRow
from memento.eval.usage import PriceTable, price_for, totals
from memento.graphs.context import Context
from memento.infra.redact import redact
from memento.infra.threads import thread_finished
from memento.scoring.judge import allm_judge
from memento.scoring.metrics import MetricFamily, score

ATTACHMENT_LINE = "Attached file: {path}"
"""Appended to the question of a task that comes with a file (GAIA)."""

UNNAMED_MODEL = "unknown"
"""Model name under which usage is counted when a model does not report its name."""


class UsageCollector(BaseCallbackHandler):
    """Adds up `AIMessage.usage_metadata` per model name over one task's model calls.

    Unlike langchain_core's `UsageMetadataCallbackHandler`, usage of a model that reports no
    name is kept (under "unknown") instead of dropped.
    """

    run_inline = True  # a cheap handler: no thread-pool hop per event inside the event loop
    ignore_chain = True  # only model ends matter; skip the many graph/chain events
    ignore_agent = True
    ignore_retriever = True
    ignore_chat_model = True
    ignore_custom_event = True

    def __init__(self) -> None:
        """Start with no usage."""
        super().__init__()
        self._lock = threading.Lock()
        self.usage_metadata: dict[str, UsageMetadata] = {}
        self.unmetered: dict[str, int] = {}
        """Replies per model name that reported no usage (their tokens are not counted)."""

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Count the usage reported with one model reply (or that it reported none)."""
        for generations in response.generations:
            for generation in generations:
                if not isinstance(generation, ChatGeneration):
                    continue
                message = generation.message
                if not isinstance(message, AIMessage):
                    continue
                name = str(
                    message.response_metadata.get("model_name")
                    or (response.llm_output or {}).get("model_name")
                    or UNNAMED_MODEL
                )
                if not message.usage_metadata:
                    with self._lock:
                        self.unmetered[name] = self.unmetered.get(name, 0) + 1
                    continue
                with self._lock:
                    previous = self.usage_metadata.get(name)
                    usage = message.usage_metadata
                    self.usage_metadata[name] = (
                        usage if previous is None else add_usage(previous, usage)
                    )


def thread_id_for(memory: str, epoch: int, task_id: str, run_tag: str = "") -> str:
    """The LangGraph thread of one (memory mode, epoch, task), inside the run `run_tag` if any."""
    scope = f"{run_tag}:" if run_tag else ""
    return f"eval:{scope}{memory}:e{epoch}:{task_id}"


def task_input(task: Task) -> dict[str, Any]:
    """The graph input of a task; an attached file's absolute path is named in the task text."""
    text = task.question
    if task.file_path is not None:
        text = f"{text}\n\n{ATTACHMENT_LINE.format(path=task.file_path.resolve())}"
    return {"task": text, "ground_truth": list(task.ground_truth) or None}


async def _final_values(graph: Any, task: Task, config: dict[str, Any], ctx: Context) -> Any:
    """Run (or resume, or just read back) the task's thread; return its final values."""
    snapshot = await graph.aget_state(config)
    if thread_finished(snapshot):
        return snapshot.values  # finished before; only its row was lost
    payload = None if snapshot.values else task_input(task)
    return await graph.ainvoke(payload, config, context=ctx, durability="sync")


@dataclass(frozen=True)
class AccuracyJudge:
    """An LLM judge of answers for accuracy only (the reward keeps its own metric)."""

    model: BaseChatModel
    """The judge chat model."""
    name: str
    """Its spec or name, recorded in each row."""


def _graph_verdict(values: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The verdict of the graph's own LLM judge (reward_metric 'llm'), if it gave one."""
    judgement = values.get("judgement") or {}
    if judgement.get("method") != "llm" or "correct" not in judgement:
        return {}
    return {
        "judge_correct": bool(judgement["correct"]),
        "judge_rationale": str(judgement.get("rationale") or ""),
        "judge_model": ctx.judge_model or ctx.llm or None,
    }


async def _accuracy_verdict(
    judge: AccuracyJudge | None, task: Task, prediction: str, usage: UsageCollector
) -> dict[str, Any]:
    """Ask the accuracy judge about an answer; its tokens count towards the task's usage."""
    if judge is None or not task.ground_truth:
        return {}
    model = cast(BaseChatModel, judge.model.with_config(callbacks=[usage]))
    try:
        verdict = await allm_judge(model, task.question, prediction, task.ground_truth)
    except Exception as exc:  # noqa: BLE001 - a judge outage leaves the row unjudged
        return {"judge_model": judge.name, "judge_error": redact(f"{type(exc).__name__}: {exc}")}
    return {
        "judge_correct": verdict.correct,
        "judge_rationale": verdict.rationale,
        "judge_model": judge.name,
        "judge_error": verdict.error,
    }


def build_row(
    task: Task,
    values: Mapping[str, Any],
    *,
    memory: str,
    epoch: int,
    ctx: Context,
    metric: MetricFamily,
    usage: Mapping[str, UsageMetadata],
    prices: PriceTable | None,
    seconds: float,
    thread_id: str,
    error: str | None,
    verdict: Mapping[str, Any] | None = None,
    unmetered: Mapping[str, int] | None = None,
) -> ResultRow:
    """The result row of one finished (or failed) task from the graph's final values."""
    prediction = str(values.get("answer") or "")
    scores = score(prediction, task.ground_truth, metric)
    reward = values.get("reward")
    spent = totals(usage, prices)
    models = sorted({*usage, *(unmetered or {})})
    unpriced = [m for m in models if price_for(m, prices) is None] if prices is not None else []
    return ResultRow(
        task_id=task.task_id,
        epoch=epoch,
        memory=memory,
        data_source=task.data_source,
        question=task.question,
        prediction=prediction,
        ground_truth=list(task.ground_truth),
        metric=metric,
        em=scores.em,
        f1=scores.f1,
        pm=scores.pm,
        reward=float(reward) if reward is not None else 0.0,
        case_ids=[str(c["id"]) for c in values.get("retrieved") or []],
        case_written=values.get("case_id"),
        input_tokens=spent.input_tokens,
        output_tokens=spent.output_tokens,
        cost=spent.cost,
        seconds=max(0.0, seconds),
        error=error,
        unmetered_calls=sum((unmetered or {}).values()),
        unpriced_models=unpriced,
        thread_id=thread_id,
        status=values.get("status"),
        failure=values.get("failure"),
        rewarded=reward is not None,
        **(verdict or {}),
    )


async def run_task(
    graph: Any,
    task: Task,
    *,
    memory: str,
    epoch: int,
    ctx: Context,
    metric: MetricFamily,
    prices: PriceTable | None = None,
    judge: AccuracyJudge | None = None,
    run_tag: str = "",
) -> ResultRow:
    """Run one task through the graph (resuming its thread if it was interrupted).

    An exception from the graph (a model service down: `ModelCallFailed`, a broken tool) becomes
    a row with `error` set; the thread's checkpoints stay at its last finished step, so the next
    run resumes it, and its row then replaces this one. An accuracy judge that could not judge
    sets `error` too (the next run only asks the judge again). Cancellation propagates.

    Args:
        graph: The compiled Memento graph, with a checkpointer.
        task: The task.
        memory: Memory mode of the run.
        epoch: Epoch (1-based).
        ctx: The run's context.
        metric: Metric family for em, f1 and pm.
        prices: Optional price table for the cost.
        judge: Judge of accuracy when the graph's reward is not already an LLM verdict.
        run_tag: The run's tag (`memento.eval.run_tag`), '' for folder-local stores.

    Returns:
        The task's result row.
    """
    thread_id = thread_id_for(memory, epoch, task.task_id, run_tag)
    usage = UsageCollector()
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}, "callbacks": [usage]}
    start = time.perf_counter()
    error: str | None = None
    try:
        values = await _final_values(graph, task, config, ctx)
    except Exception as exc:  # noqa: BLE001 - one failing task must not end the evaluation
        values, error = {}, redact(f"{type(exc).__name__}: {exc}")[:500]
    verdict = _graph_verdict(values or {}, ctx)
    if not verdict and error is None:
        verdict = await _accuracy_verdict(judge, task, str(values.get("answer") or ""), usage)
        if verdict.get("judge_error"):
            error = f"accuracy judge {verdict.get('judge_model')} could not judge: "
            error = redact(error + str(verdict["judge_error"]))[:500]
    return build_row(
        task,
        values or {},
        memory=memory,
        epoch=epoch,
        ctx=ctx,
        metric=metric,
        usage=usage.usage_metadata,
        prices=prices,
        seconds=time.perf_counter() - start,
        thread_id=thread_id,
        error=error,
        verdict=verdict,
        unmetered=usage.unmetered,
    )
