"""Process-wide defaults read from the environment (and only here).

Environment variables fill defaults; a run's own configuration (CLI flags, LangGraph context)
always wins over them. Secrets are kept as `SecretStr` so they never print by accident.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MEMENTO_"


class SettingsError(ValueError):
    """An environment variable holds a value the settings refuse; names each variable."""


class Settings(BaseSettings):
    """Defaults for stores, models and keys, read from `MEMENTO_*` and provider variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Field(
        default=Path(".memento"),
        description="Folder for the embedded case bank, Q checkpoints and SQLite checkpoints.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="Chroma server URL (e.g. http://127.0.0.1:8000); embedded store when unset.",
    )
    chroma_auth_header: SecretStr | None = Field(
        default=None,
        description="Optional 'Header-Name: value' sent to the Chroma server (e.g. a token).",
    )
    checkpointer: str | None = Field(
        default=None,
        description="Checkpointer: a SQLite path, a postgres:// DSN, or 'memory' "
        "(default: <home>/checkpoints.sqlite).",
    )
    q_share: str | None = Field(
        default=None,
        description="Share the Q-function across processes: a postgres:// DSN or a folder all "
        "workers reach; this process then only logs transitions and loads published weights, "
        "and `memento q serve-trainer` trains (default: train in-process, <home>/q).",
    )
    collection: str = Field(
        default="memento_cases",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$",
        description="Chroma collection for cases (3-512 of A-Z a-z 0-9 . _ -, as Chroma asks).",
    )
    namespace: str = Field(
        default="default", min_length=1, description="Default case-bank namespace."
    )
    dedup_threshold: float | None = Field(
        default=0.97,
        gt=0.0,
        le=1.0,
        description="Cosine similarity above which a new case updates its near-twin instead.",
    )

    llm: str | None = Field(
        default=None,
        description="Default model spec for every role: 'provider:model', an OpenAI-compatible "
        "model name, or 'offline'.",
    )
    planner_model: str | None = Field(default=None, description="Planner model spec.")
    executor_model: str | None = Field(default=None, description="Executor model spec.")
    judge_model: str | None = Field(default=None, description="LLM judge model spec.")
    model_timeout_s: float = Field(
        default=300.0, gt=0, description="Seconds one model call may take, retries included."
    )
    tool_timeout_s: float = Field(
        default=300.0, gt=0, description="Seconds one round of executor tool calls may take."
    )
    model_http_timeout_s: float = Field(
        default=120.0, gt=0, description="HTTP timeout of one request to an OpenAI-compatible API."
    )
    model_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a failed model request (transport, 408/409/429/5xx with backoff "
        "and Retry-After; an unreadable reply is retried by the node as often).",
    )
    llm_streaming: bool = Field(
        default=False, description="Stream replies of OpenAI-compatible models token by token."
    )
    stream_usage: bool = Field(
        default=True,
        description="Ask streamed calls for token usage (stream_options.include_usage); turn "
        "off only for an endpoint that refuses it.",
    )

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENAI_API_KEY", description="Key for ChatOpenAI."
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias="OPENAI_BASE_URL",
        description="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, ...).",
    )
    tavily_api_key: SecretStr | None = Field(
        default=None, validation_alias="TAVILY_API_KEY", description="Key for Tavily search."
    )


def env_name(field: str) -> str:
    """The environment variable that sets a settings field (its alias, else MEMENTO_<FIELD>)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return alias if isinstance(alias, str) else f"{ENV_PREFIX}{field.upper()}"


def load_settings() -> Settings:
    """Read the settings from the environment now.

    Raises:
        SettingsError: naming every variable with a refused value, and why (secret values are
            never shown).
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = env_name(field) if field else "settings"
            info = Settings.model_fields.get(field)
            secret = info is not None and "SecretStr" in str(info.annotation)
            shown = "" if secret else f"={str(err.get('input'))[:60]!r}"
            problems.append(f"{name}{shown}: {err['msg']}")
        raise SettingsError("bad environment: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings read once from the environment (`load_settings`)."""
    return load_settings()
