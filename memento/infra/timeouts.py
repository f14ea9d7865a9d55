"""Model calls bounded by `Context.model_timeout_s` (see `memento.infra.model_calls`).

One place for the timeout wrapper, so planner, executor and judge bound their calls alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")

MAX_ERROR_CHARS = 500
"""Longest model error text kept in state."""


class HasModelTimeout(Protocol):
    """What the wrapper reads from a run's Context (typed here so infra needs no graph import)."""

    @property
    def model_timeout_s(self) -> float:
        """Seconds one model call may take."""
        ...


async def bounded_call(call: Awaitable[T], ctx: HasModelTimeout) -> T:
    """Await `call`, raising TimeoutError if it takes longer than `ctx.model_timeout_s`."""
    return await asyncio.wait_for(call, ctx.model_timeout_s)
