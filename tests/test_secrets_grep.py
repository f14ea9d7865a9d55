"""Secret grep: fake API keys in the environment never reach a file, an output or a log line.

Recognisable fake keys are set in the environment, then every offline CLI command runs against a
temporary home and output folders: run (memory on, Q on), feedback, eval (memory similarity and
q), cases import/export/stats/search, memory save, q train, report, graph, tools call and a tiny
demo. Every file written under the temporary folders, each command's captured output, everything
written to the process's stdout/stderr and every log record (DEBUG and up) is then searched for
each secret, raw and base64-encoded at all three alignments.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import memento.memory.embeddings as emb_module
from memento.cli.main import app
from memento.settings import get_settings
from memento.testing import HashEmbeddings

SECRETS = {
    "OPENAI_API_KEY": "sk-fake0penai7f3c9a1e5b2d8c4f6a0b1c2d3e4f5a6b7",
    "TAVILY_API_KEY": "tvly-fakeT4vily9d8c7b6a5f4e3d2c1b0a",
    "MEMENTO_CHROMA_AUTH_HEADER": "X-Chroma-Token: chromaFAKEtoken51c0ffee77d00d",
    "ANTHROPIC_API_KEY": "anthr0pic-FAKE-key-00000000deadbeef1234",
}
DSN_PASSWORD = "pgFAKEpassw0rd-8e1f2a"

QUESTIONS = [
    ("What is 6 times 7?", "42", "nq"),
    ("What is the capital of France?", "Paris", "hotpotqa"),
    ("Who wrote Dracula?", "Bram Stoker", "nq"),
]


def _needles(secret: str) -> list[bytes]:
    """The secret raw and base64-encoded at each of the three byte alignments."""
    raw = secret.encode()
    found = [raw]
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw)
        # drop the characters that depend on the padding bytes or on what follows
        found.append(enc[(4 * pad + 2) // 3 + 1 : -4])
    return found


def _hits(blob: bytes, secrets: list[str]) -> list[str]:
    return [s for s in secrets if any(n in blob for n in _needles(s))]


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    # A Postgres DSN with a password that is never used: the CLI must not copy it anywhere.
    monkeypatch.setenv("MEMENTO_TEST_UNUSED_DSN", f"postgresql://memento:{DSN_PASSWORD}@h/db")
    for var in ("MEMENTO_LLM", "MEMENTO_CHROMA_URL", "MEMENTO_CHECKPOINTER", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MEMENTO_HOME", str(home))
    monkeypatch.setattr(emb_module, "default_embeddings", lambda: HashEmbeddings(384))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()  # the settings read from the fake keys must not outlive the test


def _pairs(path: Path) -> Path:
    rows = []
    for i in range(24):
        easy = i % 2 == 0
        query = f"{'simple capital city' if easy else 'obscure multi hop'} question {i}"
        for j in range(4):
            case = (i + j) % 9
            label = "positive" if case % 3 else "negative"
            row = {"query": query, "case": f"case text {case}", "truth_label": easy}
            rows.append({**row, "case_label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.slow  # runs the demo and 17 commands
def test_no_secret_in_any_file_output_or_log(
    fake_env: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    root = fake_env
    data = root / "tiny.jsonl"
    rows = [{"question": q, "ground_truth": [a], "data_source": s} for q, a, s in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runner = CliRunner()
    offline = ["--llm", "offline", "--tools", "calculator"]
    demo = ["--tasks-per-family", "1", "--epochs", "1", "--families", "birth_year"]
    demo += ["--no-distractors", "--modes", "similarity,q", "--folder", str(root / "demo")]
    commands = [
        ["run", "What is 6 times 7?", "-g", "42", "--llm", "offline", "--tools", "calculator"],
        ["run", "Who wrote Dracula?", "--llm", "offline", "--thread-id", "t2", "--json"],
        ["feedback", "t2", "--reward", "1", "--llm", "offline", "--json"],
        ["eval", str(data), "--out", str(root / "runs/sim"), "--memory", "similarity", *offline],
        ["eval", str(data), "--out", str(root / "runs/q"), "--memory", "q", "--epochs", "2"]
        + offline,
        ["report", str(root / "runs/sim"), str(root / "runs/q"), "--out", str(root / "rep")],
        ["cases", "export", str(root / "export.jsonl")],
        ["cases", "export", str(root / "upstream.jsonl"), "--format", "upstream"],
        ["cases", "import", str(root / "export.jsonl"), "--namespace", "copy"],
        ["cases", "stats", "--json"],
        ["cases", "search", "capital of France"],
        ["memory", "save", str(root / "memory.zip")],
        ["q", "train", "--pairs", str(_pairs(root / "pairs.jsonl")), "--json", "--epochs", "2"],
        ["graph", "--mermaid"],
        ["tools", "list"],
        ["tools", "call", "calculator", "--args", '{"expression": "2+2"}'],
        ["demo", *demo],
    ]
    outputs: list[str] = []
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        outputs.append(result.output)
    outside = capfd.readouterr()
    secrets = [*SECRETS.values(), DSN_PASSWORD]

    written = [p for p in root.rglob("*") if p.is_file()]
    assert len(written) >= 20, written  # the commands really wrote their stores and reports
    assert (root / "home").is_dir() and (root / "runs/q/results.jsonl").is_file()
    leaks = {str(p): _hits(p.read_bytes(), secrets) for p in written}
    assert {p: h for p, h in leaks.items() if h} == {}
    assert _hits("\n".join(outputs).encode(), secrets) == []
    assert _hits((outside.out + outside.err).encode(), secrets) == []
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "no log record captured: logging is not wired as expected"
    assert _hits(logged.encode(), secrets) == []


def test_the_grep_finds_a_planted_secret(tmp_path: Path) -> None:
    """The needles match raw and base64 copies, so a clean grep above means something."""
    secret = SECRETS["OPENAI_API_KEY"]
    for pad in range(3):
        blob = b"x" * pad + base64.b64encode(b"y" * pad + secret.encode()) + b"z"
        assert _hits(blob, [secret]) == [secret]
    assert _hits(b"prefix " + secret.encode() + b" suffix", [secret]) == [secret]
    assert _hits(b"nothing here", [secret]) == []


def test_a_key_pasted_into_the_task_is_not_checkpointed(fake_env: Path) -> None:
    key = SECRETS["OPENAI_API_KEY"]
    args = ["run", f"Echo this token back: {key}", "--llm", "offline", "--tools", "calculator"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = [p for p in (fake_env / "home").rglob("*") if p.is_file()]
    assert written
    assert {
        str(p): _hits(p.read_bytes(), [key]) for p in written if _hits(p.read_bytes(), [key])
    } == {}


def _with_password(dsn: str, password: str) -> str:
    """The DSN with `password` added (the test server trusts loopback, so it is not checked)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _database_bytes(dsn: str) -> bytes:
    """Every row of every user table, as one blob (text and bytea columns alike)."""
    import psycopg

    chunks: list[bytes] = []
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall():
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode())
    assert chunks, "the checkpointer wrote nothing: the test would prove nothing"
    return b"\n".join(chunks)


@pytest.mark.services
def test_no_secret_with_postgres_checkpoints_and_a_chroma_server(
    fake_env: Path,
    postgres_db: str,
    chroma_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dsn = _with_password(postgres_db, DSN_PASSWORD)
    monkeypatch.setenv("MEMENTO_CHECKPOINTER", dsn)
    monkeypatch.setenv("MEMENTO_CHROMA_URL", chroma_url)
    monkeypatch.setenv("MEMENTO_COLLECTION", f"secrets_{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    root = fake_env
    data = root / "tiny.jsonl"
    rows = [{"question": q, "ground_truth": [a], "data_source": s} for q, a, s in QUESTIONS]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    offline = ["--llm", "offline", "--tools", "calculator"]
    commands = [
        ["run", "What is 6 times 7?", "-g", "42", "--thread-id", "pg1", "--json", *offline],
        ["eval", str(data), "--out", str(root / "runs/pg"), "--memory", "similarity", *offline],
        ["cases", "export", str(root / "export.jsonl")],
    ]
    outputs = []
    for args in commands:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        outputs.append(result.output)
    secrets = [*SECRETS.values(), DSN_PASSWORD]
    stored = _database_bytes(postgres_db)
    assert b"What is 6 times 7?" in stored  # the grep reads real checkpoint content
    assert _hits(stored, secrets) == []
    written = [p for p in root.rglob("*") if p.is_file()]
    assert [str(p) for p in written if _hits(p.read_bytes(), secrets)] == []
    assert _hits("\n".join(outputs).encode(), secrets) == []
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert _hits(logged.encode(), secrets) == []
    exported = (root / "export.jsonl").read_text(encoding="utf-8")
    assert "What is 6 times 7?" in exported  # the cases went to the server bank we grepped
