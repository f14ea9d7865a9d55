"""Real services for scale-out tests: pytest fixtures for a Chroma server and a PostgreSQL.

`.ci/run` starts both and exports MEMENTO_TEST_CHROMA_URL and MEMENTO_TEST_POSTGRES_DSN; without
them (a developer's machine) the fixtures start their own for the session through
`memento.testing.services`. A missing binary skips the test with the reason, except under
CI=true where it fails.

Fixtures: `chroma_url` (session), `postgres_dsn` (session, the server's admin DSN) and
`postgres_db` (a fresh, empty database per test).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from memento.testing.services import (
    ServiceMissing,
    Stop,
    create_database,
    start_chroma,
    start_postgres,
)


def missing(reason: str) -> None:
    """Skip for `reason`, or fail under CI=true, where every service must be present."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


def _started(start: Callable[[], tuple[str, Stop]]) -> tuple[str, Stop]:
    """Run `start` for a fixture: a missing binary skips (fails under CI), a failure fails."""
    try:
        return start()
    except ServiceMissing as exc:
        missing(str(exc))
        raise  # unreachable: missing() skips or fails
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running Chroma server; use a unique collection name per test."""
    given = os.environ.get("MEMENTO_TEST_CHROMA_URL")
    if given:
        yield given
        return
    url, stop = _started(lambda: start_chroma(tmp_path_factory.mktemp("chroma-server")))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """Admin DSN of a running PostgreSQL (trust auth on loopback); prefer `postgres_db`."""
    given = os.environ.get("MEMENTO_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    dsn, stop = _started(start_postgres)
    try:
        yield dsn
    finally:
        stop()


@pytest.fixture
def postgres_db(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh database created for this test and dropped after it."""
    import psycopg

    dsn = create_database(postgres_dsn)
    try:
        yield dsn
    finally:
        name = dsn.rsplit("/", 1)[1]
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
