"""Real services for scale-out tests: a Chroma server and a PostgreSQL server, on 127.0.0.1 only.

`.ci/run` starts both and exports MEMENTO_TEST_CHROMA_URL and MEMENTO_TEST_POSTGRES_DSN; without
them (a developer's machine) the fixtures start their own for the session. A missing binary
skips the test with the reason, except under CI=true where it fails.

Fixtures: `chroma_url` (session), `postgres_dsn` (session, the server's admin DSN) and
`postgres_db` (a fresh, empty database per test).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def missing(reason: str) -> None:
    """Skip for `reason`, or fail under CI=true, where every service must be present."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


def free_port() -> int:
    """A loopback TCP port free at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_binary() -> str | None:
    """The `chroma` command from the chromadb package: next to this Python first, then PATH."""
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


def wait_for_chroma(url: str, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll the heartbeat until the server answers; fail with its log if it dies or stalls."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return
        except OSError:
            died = proc is not None and proc.poll() is not None
            if died or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                pytest.fail(f"chroma server at {url} did not start:\n{text}")
            time.sleep(0.3)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running Chroma server; use a unique collection name per test."""
    given = os.environ.get("MEMENTO_TEST_CHROMA_URL")
    if given:
        yield given
        return
    binary = chroma_binary()
    if binary is None:
        missing("the `chroma` command (from the chromadb package) is not installed")
        return
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log_path = data / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [binary, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_chroma(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server binary (initdb, pg_ctl): Debian's versioned folder first, then PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run through `runuser -u postgres` when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """Admin DSN of a running PostgreSQL (trust auth on loopback); prefer `postgres_db`."""
    given = os.environ.get("MEMENTO_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        return
    # Not under pytest's 0700 temp root: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="memento-test-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    init = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    made = subprocess.run(_as_postgres_user(init), capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail(f"initdb failed: {made.stdout}\n{made.stderr}")
    opts = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c max_connections=200"
    start = [pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-o", opts, "-w", "start"]
    result = subprocess.run(_as_postgres_user(start), capture_output=True, text=True)
    if result.returncode != 0:
        log = data / "server.log"
        text = log.read_text() if log.exists() else ""
        pytest.fail(f"postgres did not start: {result.stderr}\n{text}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_dsn: str) -> Iterator[str]:
    """DSN of a fresh database created for this test and dropped after it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_dsn.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
