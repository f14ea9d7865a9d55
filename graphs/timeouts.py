"""Model calls bounded by `Context.model_timeout_s`, and the error text a failed call records.

One place for the timeout wrapper and its message, so planner, executor and judge agree on
what a late reply looks like in state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from memento.graphs.context import Context
from memento.redact import redact

T = TypeVar("T")

MAX_ERROR_CHARS = 500
"""Longest model error text kept in state."""


async def call_model(call: Awaitable[T], ctx: Context) -> T:
    """Await `call`, raising TimeoutError if it takes longer than `ctx.model_timeout_s`."""
    return await asyncio.wait_for(call, ctx.model_timeout_s)


def model_error(prefix: str, exc: BaseException, ctx: Context) -> str:
    """`prefix` + the error's type and reason, redacted and cut to `MAX_ERROR_CHARS`.

    A bare TimeoutError (what `call_model` raises) reads as "no reply within N s".
    """
    late = isinstance(exc, TimeoutError) and not str(exc)
    reason = f"no reply within {ctx.model_timeout_s:g} s" if late else exc
    return redact(f"{prefix}{type(exc).__name__}: {reason}")[:MAX_ERROR_CHARS]
