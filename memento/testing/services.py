"""Start a local Chroma server or PostgreSQL for tests and benchmarks, on 127.0.0.1 only.

`start_chroma` and `start_postgres` (and the context managers `chroma_server` / `postgres_server`
around them) are the one way this repository starts these servers: the test suite's fixtures and
the benchmarks both use them. Each raises `ServiceMissing` when the binary is not installed.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterator
from pathlib import Path

Stop = Callable[[], None]
"""Stops a server started here and removes what it wrote; safe to call once."""


class ServiceMissing(RuntimeError):
    """A server binary is not installed (tests skip on it, or fail under CI=true)."""


def free_port() -> int:
    """A loopback TCP port free at the moment of asking."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_binary() -> str | None:
    """The `chroma` command from the chromadb package: next to this Python first, then PATH."""
    local = Path(sys.executable).with_name("chroma")
    return str(local) if local.exists() else shutil.which("chroma")


def _read(log: Path) -> str:
    """A server log's text, or '' when the server never wrote one."""
    return log.read_text(errors="replace") if log.exists() else ""


def wait_for_chroma(url: str, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll the heartbeat until the server answers; RuntimeError with its log if it dies, stalls."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return
        except OSError:
            died = proc is not None and proc.poll() is not None
            if died or time.monotonic() > deadline:
                raise RuntimeError(f"chroma server at {url} did not start:\n{_read(log)}") from None
            time.sleep(0.3)


def start_chroma(folder: Path) -> tuple[str, Stop]:
    """Start `chroma run` on a free loopback port, data and log under `folder`; (url, stop).

    Raises ServiceMissing without the `chroma` command, RuntimeError (with the server log) when
    the server does not come up.
    """
    binary = chroma_binary()
    if binary is None:
        raise ServiceMissing("the `chroma` command (from the chromadb package) is not installed")
    port = free_port()
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                binary,
                "run",
                "--path",
                str(folder / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_chroma(url, proc, log_path)
    except RuntimeError:
        stop()
        raise
    return url, stop


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


def start_postgres(*, fsync: bool = False) -> tuple[str, Stop]:
    """Initdb + pg_ctl a PostgreSQL (trust auth) on a free loopback port; (admin DSN, stop).

    `fsync=False` suits tests (the data is thrown away); benchmarks pass True to measure the
    server as deployed. Raises ServiceMissing without initdb/pg_ctl, RuntimeError (with the
    output and server log) when either step fails. `stop` also deletes the data folder.
    """
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise ServiceMissing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    # Not under pytest's 0700 temp root: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="memento-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    log = root / "server.log"  # outside the data folder, which initdb wants empty

    def stop() -> None:
        halt = [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres_user(halt), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    port = free_port()
    init = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    made = subprocess.run(_as_postgres_user(init), capture_output=True, text=True)
    if made.returncode != 0:
        stop()
        raise RuntimeError(f"initdb failed: {made.stdout}\n{made.stderr}")
    opts = f"-h 127.0.0.1 -p {port} -k {data} -c max_connections=200"
    if not fsync:
        opts += " -c fsync=off"
    start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", opts, "-w", "start"]
    result = subprocess.run(_as_postgres_user(start), capture_output=True, text=True)
    if result.returncode != 0:
        text = _read(log)
        stop()
        raise RuntimeError(f"postgres did not start: {result.stderr}\n{text}")
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@contextlib.contextmanager
def chroma_server(given: str | None = None) -> Iterator[str]:
    """The URL `given`, or that of a `chroma run` server started for the block (temp data)."""
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="memento-chroma-") as tmp:
        url, stop = start_chroma(Path(tmp))
        try:
            yield url
        finally:
            stop()


@contextlib.contextmanager
def postgres_server(given: str | None = None, *, fsync: bool = True) -> Iterator[str]:
    """The DSN `given`, or the admin DSN of a PostgreSQL started for the block (fsync on)."""
    if given:
        yield given
        return
    dsn, stop = start_postgres(fsync=fsync)
    try:
        yield dsn
    finally:
        stop()


def create_database(admin_dsn: str, prefix: str = "t_") -> str:
    """Create a new, empty database on the server behind `admin_dsn`; its DSN."""
    import psycopg

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_dsn.rsplit('/', 1)[0]}/{name}"
