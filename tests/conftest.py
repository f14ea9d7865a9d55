"""Shared fixtures: the upstream Memento data folder next to the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.services"]

UPSTREAM_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "memento-upstream"


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """../shared/data/memento-upstream; skipped when absent, except in CI where it must exist."""
    if not UPSTREAM_DIR.is_dir():
        reason = f"upstream data not found at {UPSTREAM_DIR}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return UPSTREAM_DIR


SERVER_FIXTURES = {
    "chroma_url": ("services", "integration"),
    "postgres_dsn": ("services", "integration"),
    "postgres_db": ("services", "integration"),
    "servers": ("integration",),  # test_tools_fetch: two loopback HTTP servers
    "base_url": ("integration",),  # test_tools_web_search: a fake Tavily HTTP server
    "dev_server": ("integration",),  # test_studio: `langgraph dev` in a subprocess
    "server": ("integration",),  # test_wire_faults: a scripted OpenAI-compatible HTTP server
}
"""Fixtures that start a server, and the markers a test using one gets (so `-m` can leave it)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by the servers their fixtures start; skip `long` ones unless MEMENTO_LONG=1.

    Each `long` test has a short sibling that always runs.
    """
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            for marker in SERVER_FIXTURES.get(name, ()):
                item.add_marker(marker)
    if os.environ.get("MEMENTO_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="full-length run: set MEMENTO_LONG=1 (the short version ran)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
