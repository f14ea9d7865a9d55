"""Open the checkpointer a run should use: SQLite on disk (default), Postgres, or in-memory.

`open_checkpointer(spec)` is an async context manager: 'memory', a SQLite file path (or
sqlite:///path), or a postgres:// / postgresql:// DSN (needs the `postgres` extra:
langgraph-checkpoint-postgres).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from memento.infra.dsn import describe, is_dsn


@asynccontextmanager
async def open_checkpointer(spec: str | Path) -> AsyncIterator[Any]:
    """Yield a ready async checkpointer for `spec`; closes it on exit."""
    text = str(spec)
    if text == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver()
        return
    if is_dsn(text):
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError(
                "a Postgres checkpointer needs `pip install 'memento-langgraph[postgres]'`"
            ) from exc
        async with _postgres(AsyncPostgresSaver, text) as saver:
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = Path(text.removeprefix("sqlite:///").removeprefix("sqlite://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver


@asynccontextmanager
async def _postgres(saver_cls: Any, dsn: str) -> AsyncIterator[Any]:
    """An AsyncPostgresSaver with its tables set up; a failed connection names the server."""
    import psycopg

    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(saver_cls.from_conn_string(dsn))
            await saver.setup()
        except psycopg.OperationalError as exc:
            raise ConnectionError(
                f"cannot open the Postgres checkpointer at {describe(dsn)}: {exc}"
            ) from exc
        yield saver
