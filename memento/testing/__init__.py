"""Deterministic test doubles for your own tests and benchmarks (no model files, no network).

`HashEmbeddings` stands in for a neural embedder: hashed bag-of-words vectors, identical across
processes and runs, so a `CaseBank` over them is fast and its results are reproducible.
`make_case` builds a valid `Case` in one line; `ReplyChatModel` is the base of a scripted chat
model (subclass it and say how to reply); `make_bank`, `capital_tools` and `RecordingLearner`
give a graph a hashed-embedding bank, a three-capitals lookup tool and a learner that only
records what it was told. The submodules hold heavier helpers:
`memento.testing.services` starts a local Chroma or PostgreSQL server, `memento.testing.scaleout`
holds worker functions for multi-process bank tests, `memento.testing.load` drives a bank with
concurrent readers and writers. The project's own tests and benchmarks use these same doubles.
"""

from memento.testing.fakes import HashEmbeddings, ReplyChatModel, make_case
from memento.testing.graph import FACTS, RecordingLearner, capital_tools, make_bank

__all__ = [
    "FACTS",
    "HashEmbeddings",
    "RecordingLearner",
    "ReplyChatModel",
    "capital_tools",
    "make_bank",
    "make_case",
]
