"""A run's tag: keeps evaluation runs that share server-backed stores from reading each other.

Thread ids (`eval:<mode>:e<epoch>:<task>`) and namespaces (`eval-<mode>`) are unique within a run
folder. With a Postgres checkpointer or a Chroma server, two run folders share one database or
collection, and the second run would take the first one's finished threads as its own. Such runs
get a random tag, kept in OUT/run_tag so that re-running the same command resumes the same run.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from memento.infra.dsn import is_dsn

TAG_FILE = "run_tag"
_TAG = re.compile(r"^[a-z0-9]{1,32}$")


def uses_shared_stores(checkpointer: str | None, chroma_url: str | None) -> bool:
    """True when the run's checkpoints or cases live outside its folder (a server)."""
    return bool(chroma_url) or is_dsn(str(checkpointer or ""))


def resolve_run_tag(out: Path, *, shared: bool) -> str:
    """The run folder's tag: '' for folder-local stores, else read from or written to OUT/run_tag.

    A folder that already holds results but no tag file was started before tags existed: it keeps
    the untagged ids so that it still resumes.
    """
    if not shared:
        return ""
    path = out / TAG_FILE
    if path.exists():
        tag = path.read_text(encoding="utf-8").strip()
        if not _TAG.match(tag):
            raise ValueError(f"{path}: not a run tag ({tag[:40]!r}); expected 1-32 of a-z 0-9")
        return tag
    if (out / "results.jsonl").exists():
        return ""
    out.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:10]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tag + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return tag
