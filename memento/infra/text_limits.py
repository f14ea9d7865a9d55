"""Cut long model text (planner replies, subtask results) before it enters state and prompts."""

from __future__ import annotations

MAX_TEXT_CHARS = 20_000
"""Longest reply or result kept; the rest is cut with a note (it feeds later prompts)."""


def cut(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` up to `limit` characters, with a note saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... cut {len(text) - limit} characters]"
