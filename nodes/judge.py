"""judge: turn the outcome into a reward in [0, 1].

With a ground truth: exact match, token F1 or partial match (DeepResearcher normalisation), or an
LLM judge with the upstream semantics. Without one: an LLM self-judge when a judge model is
configured, else no reward yet (delayed feedback can give it later). A judge that could not
judge (its call failed, or no verdict could be read from its replies) is an infrastructure
failure, not a reward: the node raises `ModelCallFailed`, so nothing is written or learned and
re-running the thread judges again.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.prompts import SELF_JUDGE_PROMPT
from memento.graphs.state import State
from memento.infra.model_calls import ModelCallFailed, checked_call, endpoint_of
from memento.scoring.judge import allm_judge, parse_verdict
from memento.scoring.metrics import score, split_answers


def _unjudged(model: BaseChatModel, reason: str, ctx: Context) -> ModelCallFailed:
    """The failure of a judge whose replies held no verdict."""
    cause = ValueError(f"no verdict could be read: {reason}")
    return ModelCallFailed("judge", endpoint_of(model), cause, timeout_s=ctx.model_timeout_s)


async def _self_judge(state: State, ctx: Context, deps: Deps) -> dict[str, Any]:
    evidence = "\n".join(f"- {r['result']}" for r in state.get("subtask_results", [])[-8:])
    prompt = SELF_JUDGE_PROMPT.format(
        question=state["task"], evidence=evidence or "(none)", prediction=state.get("answer", "")
    )
    model = deps.model("judge", ctx)
    reply = await checked_call(model.ainvoke([HumanMessage(prompt)]), ctx, role="judge",
                               model=model)  # fmt: skip
    try:
        correct, rationale = parse_verdict(reply.text)
    except ValueError as exc:
        raise _unjudged(model, str(exc), ctx) from exc
    verdict = {"method": "self_judge", "correct": correct, "rationale": rationale}
    return {"reward": 1.0 if correct else 0.0, "judgement": verdict}


async def judge(state: State, runtime: Runtime[Context], *, deps: Deps) -> dict[str, Any]:
    """Compute the reward from the ground truth, a judge model, or leave it for feedback."""
    ctx = runtime.context or Context()
    if state.get("status") == "failed":
        return {"reward": 0.0, "judgement": {"method": "failure", "failure": state.get("failure")}}
    answer = state.get("answer") or ""
    truth = state.get("ground_truth")
    if truth:
        metrics = score(answer, truth, "deepresearcher")
        judgement: dict[str, Any] = {"method": ctx.reward_metric, **metrics.model_dump()}
        if ctx.reward_metric == "llm":
            model = deps.model("judge", ctx)
            call = allm_judge(model, state["task"], answer, split_answers(truth))
            verdict = await checked_call(call, ctx, role="judge", model=model)
            if verdict.error:
                raise _unjudged(model, verdict.error, ctx)
            judgement.update(correct=verdict.correct, rationale=verdict.rationale)
            return {"reward": 1.0 if verdict.correct else 0.0, "judgement": judgement}
        return {"reward": float(getattr(metrics, ctx.reward_metric)), "judgement": judgement}
    if deps.has_judge(ctx):
        return await _self_judge(state, ctx, deps)
    return {"reward": None, "judgement": {"method": "none", "note": "awaiting feedback"}}
