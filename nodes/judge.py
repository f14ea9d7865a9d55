"""judge: turn the outcome into a reward in [0, 1].

With a ground truth: exact match, token F1 or partial match (DeepResearcher normalisation), or an
LLM judge with the upstream semantics. Without one: an LLM self-judge when a judge model is
configured, else no reward yet (delayed feedback can give it later).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from memento.eval.judge import allm_judge, parse_verdict
from memento.eval.metrics import score, split_answers
from memento.graphs.context import Context
from memento.graphs.deps import Deps
from memento.graphs.prompts import SELF_JUDGE_PROMPT
from memento.graphs.state import State
from memento.graphs.timeouts import call_model, model_error


async def _self_judge(state: State, ctx: Context, deps: Deps) -> dict[str, Any]:
    evidence = "\n".join(f"- {r['result']}" for r in state.get("subtask_results", [])[-8:])
    prompt = SELF_JUDGE_PROMPT.format(
        question=state["task"], evidence=evidence or "(none)", prediction=state.get("answer", "")
    )
    reply = await call_model(deps.model("judge", ctx).ainvoke([HumanMessage(prompt)]), ctx)
    try:
        correct, rationale = parse_verdict(reply.text)
    except ValueError as exc:
        return {"reward": None, "judgement": {"method": "self_judge", "error": str(exc)}}
    verdict = {"method": "self_judge", "correct": correct, "rationale": rationale}
    return {"reward": 1.0 if correct else 0.0, "judgement": verdict}


async def judge(state: State, runtime: Runtime[Context], *, deps: Deps) -> dict[str, Any]:
    """Compute the reward from the ground truth, a judge model, or leave it for feedback."""
    ctx = runtime.context or Context()
    if state.get("status") == "failed":
        return {"reward": 0.0, "judgement": {"method": "failure", "failure": state.get("failure")}}
    answer = state.get("answer") or ""
    truth = state.get("ground_truth")
    try:
        if truth:
            metrics = score(answer, truth, "deepresearcher")
            judgement: dict[str, Any] = {"method": ctx.reward_metric, **metrics.model_dump()}
            if ctx.reward_metric == "llm":
                verdict = await call_model(
                    allm_judge(
                        deps.model("judge", ctx), state["task"], answer, split_answers(truth)
                    ),
                    ctx,
                )
                judgement.update(correct=verdict.correct, rationale=verdict.rationale)
                return {"reward": 1.0 if verdict.correct else 0.0, "judgement": judgement}
            return {"reward": float(getattr(metrics, ctx.reward_metric)), "judgement": judgement}
        if deps.has_judge(ctx):
            return await _self_judge(state, ctx, deps)
    except Exception as exc:  # noqa: BLE001 - a failing judge leaves the reward open
        error = model_error("", exc, ctx)
        return {"reward": None, "judgement": {"method": "error", "error": error}}
    return {"reward": None, "judgement": {"method": "none", "note": "awaiting feedback"}}
