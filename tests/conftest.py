"""Shared fixtures: the upstream Memento data folder next to the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.services"]

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked `long` unless MEMENTO_LONG=1: each has a short sibling that always runs."""
    if os.environ.get("MEMENTO_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="full-length run: set MEMENTO_LONG=1 (the short version ran)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
