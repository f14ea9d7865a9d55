"""The results.jsonl schema, an append-only crash-safe writer and a tolerant reader.

A run appends one `ResultRow` per finished (task, epoch) to DIR/results.jsonl, flushing and
fsync-ing every row, so a crash or Ctrl-C loses at most the tasks in flight. A torn last line (the
process died mid-write) is ignored by the reader and cut off by the next writer; resuming runs only
the (task_id, epoch) pairs that `finished_keys` does not list. A retried pair's new row replaces
its old one: the writer rewrites the file (atomically) when it closes, keeping the last row of each
(memory, task, epoch); readers already keep the last one before that. One writer per run folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

RESULTS_FILE = "results.jsonl"
SCHEMA_VERSION = 1


class ResultRow(BaseModel):
    """One finished (task, epoch) of an evaluation run."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(default=SCHEMA_VERSION, description="Row format version.")
    task_id: str = Field(description="Task id from the dataset.")
    epoch: int = Field(ge=0, description="Epoch the attempt belongs to (1-based by convention).")
    memory: str = Field(description="Memory mode: none, similarity or q.")
    data_source: str = Field(description="Subset of the task.")
    question: str = Field(default="", description="The question asked.")
    prediction: str = Field(default="", description="Final answer of the agent.")
    ground_truth: list[str] = Field(default_factory=list, description="Accepted answers.")
    metric: str = Field(default="deepresearcher", description="Family used for em, f1 and pm.")
    em: float = Field(ge=0.0, le=1.0, description="Exact match.")
    f1: float = Field(ge=0.0, le=1.0, description="Token F1.")
    pm: float = Field(ge=0.0, le=1.0, description="Partial match.")
    reward: float = Field(description="Reward written to the case bank.")
    judge_correct: bool | None = Field(default=None, description="LLM judge verdict, if judged.")
    judge_rationale: str | None = Field(default=None, description="Judge's rationale.")
    judge_model: str | None = Field(default=None, description="Judge model name.")
    case_ids: list[str] = Field(default_factory=list, description="Ids of the cases shown.")
    case_written: str | None = Field(default=None, description="Id of the case written.")
    input_tokens: int | None = Field(default=None, description="Prompt tokens, when reported.")
    output_tokens: int | None = Field(default=None, description="Completion tokens, if reported.")
    cost: float | None = Field(default=None, description="Cost in USD, when priced.")
    seconds: float = Field(ge=0.0, description="Wall time of the task.")
    error: str | None = Field(
        default=None,
        description="Why the task has no outcome yet (a model call or judge that failed); such "
        "a row is not scored, and re-running the evaluation retries it and replaces the row.",
    )
    unmetered_calls: int = Field(
        default=0, ge=0, description="Model calls that reported no token usage (not counted)."
    )
    unpriced_models: list[str] = Field(
        default_factory=list, description="Models used without a price in the price table."
    )
    thread_id: str | None = Field(default=None, description="LangGraph thread of the task.")
    finished_at: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        description="UTC time the row was written.",
    )

    @property
    def correct(self) -> bool:
        """Accuracy label: the judge's verdict when there is one, else exact match."""
        return self.judge_correct if self.judge_correct is not None else self.em >= 1.0

    @property
    def key(self) -> tuple[str, int]:
        """The resume key (task_id, epoch)."""
        return (self.task_id, self.epoch)


class ResultsError(ValueError):
    """A results file that cannot be read; the message names the file and line."""


def _results_path(path: str | Path) -> Path:
    """A `.jsonl` path is the results file itself; anything else is the run folder."""
    p = Path(path)
    return p if p.suffix == ".jsonl" and not p.is_dir() else p / RESULTS_FILE


def _repair_tail(path: Path) -> None:
    """Make `path` end on a row boundary: cut a torn last line, or end a whole one."""
    if not path.exists():
        return
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # Find the start of the last line.
        start = size
        block = 4096
        while start > 0:
            step = min(block, start)
            fh.seek(start - step)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                start = start - step + nl + 1
                break
            start -= step
        fh.seek(start)
        tail = fh.read()
        try:
            ResultRow.model_validate_json(tail)
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        except ValidationError:
            fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())


class ResultsWriter:
    """Append-only writer of results.jsonl; every row is flushed and fsync-ed before returning.

    Use as a context manager, or call `close()`. Safe to share between threads and asyncio tasks.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        """Open (creating folders as needed) the results file at `path`.

        Args:
            path: The results file (`*.jsonl`) or its run folder.
            fsync: fsync after every row (the default: a power loss keeps every finished row);
                False only flushes, which survives a crash of the process but not of the machine.
        """
        self.path = _results_path(path)
        self._fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_tail(self.path)
        compact_results(self.path)  # a replacement a crashed writer left beside its old row
        self._keys = {_key(line) for line in _lines(self.path)}
        self._replaced = False
        self._lock = threading.Lock()
        self._fh = self.path.open("a", encoding="utf-8")

    def append(self, row: ResultRow) -> None:
        """Write one row durably (replacing, at `close`, an earlier row of the same key)."""
        line = row.model_dump_json() + "\n"
        key = (row.memory, row.task_id, row.epoch)
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())
            self._replaced = self._replaced or key in self._keys
            self._keys.add(key)

    def close(self) -> None:
        """Close the file; rows replaced by later ones of the same key are dropped from it."""
        with self._lock:
            if not self._fh.closed:
                self._fh.close()
                if self._replaced:
                    compact_results(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a results file ([] when missing); no torn tail (repaired first)."""
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _key(line: str) -> tuple[str, str, int] | None:
    """A row's (memory, task_id, epoch), or None for a line that is no row (left as it is)."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("epoch"), int):
        return None
    return (str(raw.get("memory")), str(raw.get("task_id")), int(raw["epoch"]))


def compact_results(path: str | Path) -> int:
    """Keep only the last row of each (memory, task_id, epoch); returns the rows dropped.

    The file is rewritten atomically (temp file, fsync, rename) and only when a row is dropped.
    """
    file = _results_path(path)
    _repair_tail(file)
    lines = _lines(file)
    kept: dict[tuple[str, str, int] | int, str] = {}
    for index, line in enumerate(lines):
        key = _key(line) or index
        kept.pop(key, None)  # the replacement takes the place of the latest attempt
        kept[key] = line
    dropped = len(lines) - len(kept)
    if dropped:
        tmp = file.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in kept.values()))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
        folder = os.open(file.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return dropped


def read_results(path: str | Path) -> list[ResultRow]:
    """Read every row of a results file (or of DIR/results.jsonl).

    A malformed last line without a final newline is a torn write and is ignored; any other bad
    line raises `ResultsError` naming the file and line. A missing file reads as no rows.
    """
    file = _results_path(path)
    if not file.exists():
        return []
    text = file.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows: list[ResultRow] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        torn_tail = index == len(lines) - 1  # no newline after it
        try:
            rows.append(ResultRow.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            if torn_tail:
                break
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else _first_error(exc)
            raise ResultsError(f"{file}:{index + 1}: bad result row: {reason}") from exc
    return rows


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])


def finished_keys(
    path: str | Path,
    *,
    memory: str | None = None,
    include_errors: bool = True,
) -> set[tuple[str, int]]:
    """The (task_id, epoch) pairs already in a results file, for resuming.

    Args:
        path: results.jsonl or its folder.
        memory: Only rows of this memory mode, when given.
        include_errors: Whether rows of failed tasks count as finished (False retries them).
    """
    return {
        row.key
        for row in read_results(path)
        if (memory is None or row.memory == memory) and (include_errors or row.error is None)
    }


def write_rows(path: str | Path, rows: Iterable[ResultRow]) -> Path:
    """Append `rows` to a results file and return its path (a convenience for scripts and tests)."""
    with ResultsWriter(path) as writer:
        for row in rows:
            writer.append(row)
        return writer.path


MANIFEST_FILE = "run.json"


class RunManifest(BaseModel):
    """What a run was asked to do, written by the run loop to DIR/run.json (optional)."""

    model_config = ConfigDict(extra="allow")

    dataset: str = Field(default="", description="Dataset path.")
    memory: str = Field(default="", description="Memory mode.")
    epochs: int | None = Field(default=None, description="Epochs asked for.")
    limit: int | None = Field(default=None, description="Task limit.")
    seed: int | None = Field(default=None, description="Sampling seed.")
    model: str = Field(default="", description="Model spec (never a key).")
    metric: str = Field(default="deepresearcher", description="Metric family of the rows.")
    tasks: int | None = Field(default=None, description="Tasks selected per epoch.")
    skipped_rows: int = Field(default=0, description="Malformed dataset rows skipped.")


def write_manifest(folder: str | Path, manifest: RunManifest) -> Path:
    """Write DIR/run.json atomically (temp file, then rename)."""
    path = Path(folder) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(folder: str | Path) -> RunManifest | None:
    """Read DIR/run.json, or None when there is none."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        return RunManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ResultsError(f"{path}: bad run manifest: {_first_error(exc)}") from exc
