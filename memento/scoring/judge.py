"""LLM-judge accuracy with the upstream Memento semantics.

The judge sees the question, the list of accepted answers and the prediction, writes a rationale,
then says `correct` or `incorrect`; the prediction is correct when it is semantically the same as
at least one accepted answer. Unparsable output gets a bounded number of repair attempts and then a
recorded failure (`correct=False`, `error` set), never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, Field

from memento.scoring.metrics import split_answers

JUDGE_PROMPT = """You will be given a question, a list of ground-truth answers (each item is an \
accepted answer on its own) and a predicted answer. Judge whether the predicted answer correctly \
answers the question.

<criteria>
1. The predicted answer need not be word for word the same as a ground-truth answer, but it must \
mean the same thing for this question.
2. Each item of the ground-truth list is a full answer on its own; the predicted answer is correct \
when it means the same as at least one of them.
</criteria>

<question>{question}</question>
<ground_truth_answers>{ground_truths}</ground_truth_answers>
<predicted_answer>{prediction}</predicted_answer>

First give your rationale, then your judgement. Reply with JSON only, in this format:
{{"rationale": "...", "judgement": "correct" | "incorrect"}}
"""
"""Prompt of the judge; `ground_truths` is a JSON list of strings."""

JUDGE_REPAIR_PROMPT = """Your reply could not be read: {problem}. Reply again with JSON only, \
exactly in this format: {{"rationale": "...", "judgement": "correct" | "incorrect"}}"""
"""Follow-up sent after an unparsable judge reply."""

_FENCE = re.compile(r"^```[^\n]*\n(.*?)\n?```\s*$", re.DOTALL)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_VERDICT = re.compile(r'"judge?ment"\s*:\s*"(correct|incorrect)"', re.IGNORECASE)


class JudgeVerdict(BaseModel):
    """The judge's decision on one prediction."""

    correct: bool = Field(description="True when the prediction matches an accepted answer.")
    rationale: str = Field(description="The judge's reasoning (or why judging failed).")
    raw: str = Field(description="The judge's last raw reply.")
    attempts: int = Field(default=1, description="Model calls made.")
    error: str | None = Field(default=None, description="Why no verdict could be parsed, if so.")


def _text_of(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in content]
    return "".join(parts)


def parse_verdict(raw: str) -> tuple[bool, str]:
    """Read (correct, rationale) from a judge reply.

    Accepts a JSON object (optionally in a code fence or surrounded by prose) with a `judgement`
    (or `judgment`) of `correct` or `incorrect`, case-insensitive.

    Raises:
        ValueError: When no verdict can be read; the message says why.
    """
    text = raw.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    found = _OBJECT.search(text)
    if found:
        try:
            data = json.loads(found.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            verdict = data.get("judgement", data.get("judgment"))
            label = str(verdict).strip().lower() if verdict is not None else ""
            if label in ("correct", "incorrect"):
                return label == "correct", str(data.get("rationale", ""))
            raise ValueError(f'"judgement" must be "correct" or "incorrect", got {verdict!r}')
    match = _VERDICT.search(text)
    if match:
        return match.group(1).lower() == "correct", ""
    raise ValueError("no JSON object with a judgement found")


def judge_prompt(question: str, prediction: str, ground_truths: str | Sequence[str]) -> str:
    """Fill `JUDGE_PROMPT`; joined ground truths are split into their accepted answers."""
    return JUDGE_PROMPT.format(
        question=question,
        ground_truths=json.dumps(split_answers(ground_truths), ensure_ascii=False),
        prediction=prediction,
    )


class _Exchange:
    """One judging exchange: the messages to send next and how to read each reply."""

    def __init__(
        self, question: str, prediction: str, ground_truths: str | Sequence[str], limit: int
    ) -> None:
        self.messages: list[BaseMessage] = [
            HumanMessage(content=judge_prompt(question, prediction, ground_truths))
        ]
        self.limit = max(1, limit)
        self.attempts = 0

    def read(self, reply: BaseMessage) -> JudgeVerdict | None:
        """A verdict, a recorded failure once attempts run out, or None to ask again."""
        self.attempts += 1
        raw = _text_of(reply)
        try:
            correct, rationale = parse_verdict(raw)
        except ValueError as exc:
            problem = str(exc)
            if self.attempts >= self.limit:
                return JudgeVerdict(
                    correct=False,
                    rationale=f"judge failed after {self.attempts} attempt(s): {problem}",
                    raw=raw,
                    attempts=self.attempts,
                    error=problem,
                )
            self.messages = [
                *self.messages,
                AIMessage(content=raw),
                HumanMessage(content=JUDGE_REPAIR_PROMPT.format(problem=problem)),
            ]
            return None
        return JudgeVerdict(correct=correct, rationale=rationale, raw=raw, attempts=self.attempts)


def llm_judge(
    model: BaseChatModel,
    question: str,
    prediction: str,
    ground_truths: str | Sequence[str],
    *,
    max_attempts: int = 3,
) -> JudgeVerdict:
    """Ask `model` whether `prediction` answers `question` (any accepted answer may match).

    Args:
        model: The judge chat model.
        question: The task's question.
        prediction: The answer to judge.
        ground_truths: Accepted answers (joined string or sequence).
        max_attempts: Model calls at most; after that an unparsable reply is a recorded failure.

    Returns:
        The verdict; `error` is set (and `correct` False) when no reply could be parsed.

    Raises:
        Exception: Whatever the model itself raises (transport errors are the caller's to retry).
    """
    exchange = _Exchange(question, prediction, ground_truths, max_attempts)
    while (verdict := exchange.read(model.invoke(exchange.messages))) is None:
        pass
    return verdict


async def allm_judge(
    model: BaseChatModel,
    question: str,
    prediction: str,
    ground_truths: str | Sequence[str],
    *,
    max_attempts: int = 3,
) -> JudgeVerdict:
    """Async twin of `llm_judge` (same arguments and result)."""
    exchange = _Exchange(question, prediction, ground_truths, max_attempts)
    while (verdict := exchange.read(await model.ainvoke(exchange.messages))) is None:
        pass
    return verdict
