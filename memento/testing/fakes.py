"""Deterministic test doubles for tests and benchmarks: a hashing embedder, a chat-model base.

`HashEmbeddings` hashes lower-cased words (and word bigrams) into a fixed number of buckets and
L2-normalises the counts: texts that share words get a high cosine, identical texts get 1.0.
It needs no model files and runs in microseconds, so case-bank tests stay fast.
`make_case` builds a valid `Case` in one line. `ReplyChatModel` is the base of the tests' scripted
chat models: it counts calls and wraps what `_reply` returns, so a subclass only says how to reply.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from memento.graphs.stand_in import StandInChatModel
from memento.memory.codec import case_id_for
from memento.memory.records import Case, Plan

_WORD = re.compile(r"[a-z0-9]+")


class HashEmbeddings(Embeddings):
    """Bag-of-words hashed into `dim` buckets, normalised; deterministic across processes."""

    def __init__(self, dim: int = 64, model_name: str | None = None) -> None:
        self.dim = dim
        self.model_name = model_name or f"test-hash-{dim}"

    def _embed(self, text: str) -> list[float]:
        words = _WORD.findall(text.lower())
        tokens = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        vector = [0.0] * self.dim
        for token in tokens or [""]:
            digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[bucket] += sign
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts."""
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self._embed(text)


def make_case(
    task: str,
    *,
    label: str = "positive",
    namespace: str = "default",
    case_id: str | None = None,
    steps: tuple[str, ...] = ("Look it up.",),
    **fields: object,
) -> Case:
    """A valid case with sensible defaults (content-hash id unless `case_id` is given)."""
    plan = Plan.model_validate(
        {"plan": [{"id": i, "description": d} for i, d in enumerate(steps, start=1)]}
    )
    reward = 1.0 if label == "positive" else 0.0
    return Case.model_validate(
        {
            "id": case_id or case_id_for(namespace, task, plan),
            "task": task,
            "plan": plan,
            "label": label,
            "reward": reward,
            "namespace": namespace,
            **fields,
        }
    )


class ReplyChatModel(StandInChatModel):
    """A stand-in chat model for tests: counts its calls and answers with what `_reply` returns."""

    llm_type: ClassVar[str] = "test-reply"
    """What `_llm_type` reports (each subclass names itself)."""
    calls: int = 0
    """How many times the model was called (a call that raised included)."""

    @property
    def _llm_type(self) -> str:
        return self.llm_type

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        """The message that answers `messages`; subclasses say how (or raise, as a client would)."""
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])
