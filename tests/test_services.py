"""The service starters used by the fixtures and benchmarks report a server that fails to start.

A failed start must raise with what the server said (so CI shows why) and leave nothing behind.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from memento.testing import services

pytestmark = pytest.mark.integration  # each test starts a (fake) server binary


def fake_binary(folder: Path, name: str, say: str) -> str:
    """A script `name` in `folder` that prints `say` to stderr and exits 3."""
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{say}' >&2\nexit 3\n")
    path.chmod(0o755)
    return str(path)


def test_chroma_that_dies_raises_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = fake_binary(tmp_path, "chroma", "cannot bind the port, sorry")
    monkeypatch.setattr(services, "chroma_binary", lambda: binary)
    with pytest.raises(RuntimeError, match="did not start:\ncannot bind the port, sorry"):
        services.start_chroma(tmp_path)


def test_failed_initdb_raises_with_its_output_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = fake_binary(tmp_path, "initdb", "initdb: disk full")
    monkeypatch.setattr(services, "postgres_bin", lambda name: binary)
    monkeypatch.setattr(services, "_as_postgres_user", lambda cmd: cmd)
    before = set(glob.glob("/tmp/memento-pg-*"))
    with pytest.raises(RuntimeError, match=r"(?s)initdb failed:.*initdb: disk full"):
        services.start_postgres()
    assert set(glob.glob("/tmp/memento-pg-*")) <= before  # its data folder was removed


def test_missing_binaries_are_reported_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "chroma_binary", lambda: None)
    monkeypatch.setattr(services, "postgres_bin", lambda name: None)
    with pytest.raises(services.ServiceMissing, match="chroma"):
        services.start_chroma(Path("/nonexistent"))
    with pytest.raises(services.ServiceMissing, match="initdb, pg_ctl"):
        services.start_postgres()
