"""A model call that produced no reply: the exception that stops a run, and what a retry may fix.

An infrastructure failure (transport, HTTP status, an unreadable or empty response, a timeout, a
judge that could not judge) is not an outcome of the task. The node raises `ModelCallFailed`
(after the client's own bounded retries), the graph stops at its last checkpoint, and re-running
the same thread resumes it: no reward, no case, no Q transition is made from an outage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from memento.infra.redact import redact
from memento.infra.timeouts import MAX_ERROR_CHARS, HasModelTimeout, bounded_call

T = TypeVar("T")


class UnusableResponseError(RuntimeError):
    """The endpoint answered, but nothing usable: not JSON, no choices, or an empty stream."""


class ModelCallFailed(RuntimeError):  # noqa: N818 - the name says what happened, as the issue asks
    """A planner, executor or judge call failed for a reason outside the task (see module doc).

    The message names the role and the endpoint (a URL without credentials or query), never a
    secret: `role` model call failed at `endpoint`: `Type`: reason.
    """

    def __init__(self, role: str, endpoint: str, cause: BaseException, *, timeout_s: float) -> None:
        """Describe the failed call of `role` at `endpoint`; `timeout_s` words a bare timeout."""
        self.role = role
        self.endpoint = endpoint
        self.cause_type = type(cause).__name__
        self.bad_response = unusable_response(cause)
        late = isinstance(cause, TimeoutError) and not str(cause)
        reason = f"no reply within {timeout_s:g} s" if late else str(cause)
        where = f" at {endpoint}" if endpoint else ""
        text = f"{role} model call failed{where}: {self.cause_type}: {reason}"
        super().__init__(redact(" ".join(text.split()))[:MAX_ERROR_CHARS])


def unusable_response(exc: BaseException) -> bool:
    """True for a reply that arrived but could not be read: a retry of the call may fix it."""
    return isinstance(exc, json.JSONDecodeError | UnusableResponseError)


def retry_unusable(exc: Exception) -> bool:
    """`retry_on` for a node's RetryPolicy: retry a call whose response could not be read.

    Transport errors, HTTP 408/409/429/5xx and timeouts are retried (with backoff, honouring
    Retry-After) by the provider's client itself, so they are not retried a second time here.
    """
    return isinstance(exc, ModelCallFailed) and exc.bad_response


def public_url(url: str) -> str:
    """`url` without user, password, query or fragment (safe to print and to store)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")) if host else ""


def endpoint_of(model: object) -> str:
    """Where a chat model sends its calls, for messages: its base URL, else its provider type."""
    for attr in ("openai_api_base", "anthropic_api_url", "base_url"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return public_url(value)
    if type(model).__name__ == "ChatOpenAI" or "OpenAI" in type(model).__name__:
        return "https://api.openai.com/v1"
    kind = getattr(model, "_llm_type", "")
    return str(kind) if isinstance(kind, str) else ""


async def checked_call(call: Awaitable[T], ctx: HasModelTimeout, *, role: str, model: object) -> T:
    """Await one model call within `ctx.model_timeout_s`; any failure is `ModelCallFailed`."""
    try:
        return await bounded_call(call, ctx)
    except Exception as exc:  # noqa: BLE001 - every failed call is reported the same way
        raise ModelCallFailed(role, endpoint_of(model), exc, timeout_s=ctx.model_timeout_s) from exc
