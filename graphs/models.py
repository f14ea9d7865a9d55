"""The one place chat models are built: `load_chat_model(spec)` and spec resolution per role.

A spec is 'offline' (the package's deterministic stand-in), 'provider:model' for a provider
`init_chat_model` knows (openai, anthropic, ...), or a model name served by an OpenAI-compatible
endpoint (OPENAI_BASE_URL: OpenAI, vLLM, Ollama, llama.cpp server), colons and all (Ollama's
`qwen2.5:7b`). A spec that names no known provider, or whose model cannot be built, is a
`ModelSpecError` with a one-line message, raised by `resolve_spec` before any task starts.
Nothing falls back to a fake model silently: with no model configured, `resolve_spec` raises
`ModelNotConfiguredError`. OpenAI-compatible clients get the settings' HTTP timeout, retry count
(the client retries transport errors, 408/409/429/5xx with backoff and Retry-After) and
streaming; a streamed call asks for usage (`stream_usage`).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel
from langgraph.types import RetryPolicy

from memento.infra.model_calls import retry_unusable
from memento.settings import Settings, get_settings

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI

OFFLINE = "offline"
DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
Role = Literal["planner", "executor", "judge"]

NOT_CONFIGURED = (
    "No chat model is configured for the {role}. Set OPENAI_API_KEY (and OPENAI_BASE_URL for an "
    "OpenAI-compatible server such as vLLM, Ollama or llama.cpp), plus MEMENTO_LLM for the model "
    "name (default {default} when only OPENAI_API_KEY is set); or pass --llm MODEL_SPEC "
    "(e.g. openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5); or --llm offline for the "
    "deterministic stand-in used in smoke tests."
)
OPENAI_PROVIDERS = frozenset({"openai"})
"""Providers built here as `CheckedChatOpenAI` (with the settings' timeouts and retries)."""
FALLBACK_PROVIDERS = {"anthropic": "langchain_anthropic", "openai": "langchain_openai"}
"""Providers assumed known if langchain's registry cannot be read."""


class ModelNotConfiguredError(RuntimeError):
    """No model spec was given and none can be derived from the environment."""


class ModelSpecError(ModelNotConfiguredError):
    """A model spec that cannot be used (unknown provider, missing package, bad settings).

    A subclass of `ModelNotConfiguredError` so every command that stops on a missing model
    stops on a bad one the same way: one line, exit 2.
    """


def resolve_spec(
    role: Role, role_spec: str = "", llm: str = "", settings: Settings | None = None
) -> str:
    """Pick the spec for a role: its own, then the shared one, then settings, then OpenAI.

    Raises:
        ModelNotConfiguredError: nothing is configured.
        ModelSpecError: the spec picked cannot be used (`check_spec`).
    """
    settings = settings or get_settings()
    role_default = {
        "planner": settings.planner_model,
        "executor": settings.executor_model,
        "judge": settings.judge_model,
    }[role]
    for spec in (role_spec, llm, role_default, settings.llm):
        if spec:
            check_spec(spec, settings)
            return spec
    if settings.openai_api_key is not None or settings.openai_base_url:
        return DEFAULT_OPENAI_MODEL
    raise ModelNotConfiguredError(NOT_CONFIGURED.format(role=role, default=DEFAULT_OPENAI_MODEL))


def known_providers() -> dict[str, str]:
    """Providers `init_chat_model` knows, each with the package that serves it."""
    try:
        from langchain.chat_models import base

        registry: dict[str, tuple[Any, ...]] = base._BUILTIN_PROVIDERS
        return {name: str(entry[0]) for name, entry in registry.items()}
    except (ImportError, AttributeError):  # langchain moved its registry: a short safe list
        return dict(FALLBACK_PROVIDERS)


def _split(spec: str) -> tuple[str, str] | None:
    """(provider, model) when the spec starts with a provider `init_chat_model` knows."""
    provider, sep, model = spec.partition(":")
    return (provider, model) if sep and provider in known_providers() else None


def check_spec(spec: str, settings: Settings | None = None) -> None:
    """Raise `ModelSpecError` (one line) unless `spec` can be built into a chat model now."""
    if not spec or spec == OFFLINE:
        return
    settings = settings or get_settings()
    split = _split(spec)
    if split is None and ":" in spec and not settings.openai_base_url:
        provider = spec.partition(":")[0]
        raise ModelSpecError(
            f"model spec {spec!r}: {provider!r} is not a provider init_chat_model knows; "
            "for a model of an OpenAI-compatible server (Ollama, vLLM) set OPENAI_BASE_URL"
        )
    if split is not None and split[0] not in OPENAI_PROVIDERS:
        package = known_providers()[split[0]]
        if importlib.util.find_spec(package.split(".")[0]) is None:
            name = package.split(".")[0].replace("_", "-")
            raise ModelSpecError(f"model spec {spec!r} needs the package {name} (pip install it)")
    try:
        load_chat_model(spec, settings)
    except Exception as exc:  # noqa: BLE001 - any refusal to build is one line for the user
        first = " ".join(str(exc).split())[:300]
        raise ModelSpecError(f"model spec {spec!r}: {type(exc).__name__}: {first}") from None


def load_chat_model(spec: str | BaseChatModel, settings: Settings | None = None) -> BaseChatModel:
    """Build (or pass through) a chat model for a spec; models are cached per spec and client."""
    if isinstance(spec, BaseChatModel):
        return spec
    if not spec:
        raise ModelNotConfiguredError("empty model spec")
    settings = settings or get_settings()
    key = (spec, settings.openai_base_url, *_client_settings(settings))
    model = _models.get(key)
    if model is None:
        model = _models[key] = _build(spec, settings)
    return model


_models: dict[tuple[Any, ...], BaseChatModel] = {}


def _client_settings(settings: Settings) -> tuple[float, int, bool, bool]:
    return (
        settings.model_http_timeout_s,
        settings.model_retries,
        settings.llm_streaming,
        settings.stream_usage,
    )


def _build(spec: str, settings: Settings) -> BaseChatModel:
    if spec == OFFLINE:
        from memento.graphs.offline_model import OfflineChatModel

        return OfflineChatModel()
    split = _split(spec)
    if split is not None and split[0] not in OPENAI_PROVIDERS:
        from langchain.chat_models import init_chat_model

        return init_chat_model(spec)
    return openai_client(split[1] if split else spec, settings)


def openai_client(model: str, settings: Settings) -> ChatOpenAI:
    """A ChatOpenAI for `model` at the settings' endpoint, with their timeout and retries."""
    from memento.graphs.checked_openai import CheckedChatOpenAI

    return CheckedChatOpenAI(
        model=model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        temperature=0,
        timeout=settings.model_http_timeout_s,
        max_retries=settings.model_retries,
        streaming=settings.llm_streaming,
        stream_usage=settings.stream_usage,
    )


def model_retry_policy(settings: Settings | None = None) -> RetryPolicy:
    """Node retries for replies that arrived unreadable (not JSON, no choices, empty stream).

    Everything else a client retries itself; a call still failing then stops the run.
    """
    settings = settings or get_settings()
    return RetryPolicy(
        max_attempts=settings.model_retries + 1,
        initial_interval=0.2,
        backoff_factor=2.0,
        max_interval=5.0,
        retry_on=retry_unusable,
    )


def stand_in_note(*models: BaseChatModel) -> str | None:
    """The note of any stand-in (offline or simulated) model among `models`, else None."""
    notes = [getattr(m, "stand_in_note", None) for m in models]
    found = sorted({n for n in notes if isinstance(n, str) and n})
    return "; ".join(found) or None
