"""Web search tool over Tavily, with results normalised to title, url, snippet and score.

It uses tavily-python's `TavilyClient` rather than langchain-tavily's wrapper: both accept a
base URL (`api_base_url`), but the wrapper posts without any timeout (a slow service hangs the
tool) and parses error bodies as JSON (a non-JSON 5xx raises a decode error), while the client
takes a per-request timeout and maps 401/429/403/400 to typed errors. Every failure comes back
as a short error text; the key never appears in it.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, SecretStr

from memento.tools.config import WebSearchConfig


class WebSearchArgs(BaseModel):
    """Arguments of the web_search tool."""

    query: str = Field(description="What to search the web for.", min_length=1, max_length=400)
    max_results: int | None = Field(
        default=None, ge=1, le=20, description="How many results (the configured cap applies)."
    )


def normalise(payload: dict[str, Any], limit: int, snippet_chars: int) -> list[dict[str, Any]]:
    """Keep title, url, snippet (Tavily's `content`) and score of each result."""
    results = []
    for item in payload.get("results") or []:
        if not isinstance(item, dict) or not item.get("url"):
            continue
        snippet = str(item.get("content") or item.get("snippet") or "").strip()
        score = item.get("score")
        results.append(
            {
                "title": str(item.get("title") or "").strip(),
                "url": str(item["url"]),
                "snippet": snippet[:snippet_chars],
                "score": float(score) if isinstance(score, int | float) else None,
            }
        )
    return results[:limit]


def _scrub(message: str, key: SecretStr | None) -> str:
    secret = key.get_secret_value() if key else ""
    return message.replace(secret, "***") if secret else message


def _error_text(exc: Exception, config: WebSearchConfig, key: SecretStr | None) -> str:
    from tavily import errors

    if isinstance(exc, errors.InvalidAPIKeyError):
        why = "the Tavily API key was rejected (401); check TAVILY_API_KEY"
    elif isinstance(exc, errors.UsageLimitExceededError):
        why = "Tavily usage limit or rate limit reached (429); try later"
    elif isinstance(exc, errors.TimeoutError):
        why = f"Tavily did not answer within {config.timeout_s:g} s"
    elif isinstance(exc, errors.ForbiddenError):
        why = "Tavily refused the request (403)"
    elif isinstance(exc, errors.BadRequestError):
        why = f"Tavily rejected the query (400): {exc}"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return "Error: web search failed: " + _scrub(why, key)[:300]


def search_web(query: str, config: WebSearchConfig, max_results: int | None = None) -> str:
    """Search with Tavily and return JSON text of normalised results, or an error text."""
    import requests
    from tavily import TavilyClient

    key = config.api_key
    if key is None:
        from memento.settings import load_settings

        key = load_settings().tavily_api_key
    if key is None or not key.get_secret_value():
        return "Error: web search is not configured (set TAVILY_API_KEY)"
    limit = min(max_results or config.max_results, config.max_results)
    session = requests.Session()
    try:
        client = TavilyClient(
            api_key=key.get_secret_value(),
            api_base_url=(config.api_base_url or "https://api.tavily.com").rstrip("/"),
            session=session,
        )
        payload = client.search(query, max_results=limit, timeout=config.timeout_s)
    except Exception as exc:  # noqa: BLE001 - every failure becomes error text
        return _error_text(exc, config, key)
    finally:
        session.close()
    if not isinstance(payload, dict):
        return "Error: web search failed: unexpected answer from Tavily"
    results = normalise(payload, limit, config.max_snippet_chars)
    if not results:
        return f"No web results for {query!r}."
    return json.dumps(results, ensure_ascii=False, indent=1)


def build_web_search(config: WebSearchConfig) -> BaseTool:
    """The `web_search` tool."""

    def _run(query: str, max_results: int | None = None) -> str:
        return search_web(query, config, max_results)

    return StructuredTool.from_function(
        func=_run,
        name="web_search",
        description=(
            "Search the web (Tavily). Returns a JSON list of results with title, url, snippet "
            "and score; use fetch_page to read a result in full."
        ),
        args_schema=WebSearchArgs,
    )
