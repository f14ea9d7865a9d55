"""Evaluation datasets: DeepResearcher JSONL, GAIA-style folders and any JSONL with named fields.

Every loader yields `Task`s. A malformed row raises `DatasetError` naming the file and line, unless
`skip_bad=True`, in which case it is recorded in `Dataset.skipped` and counted in reports.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memento.infra.jsonl import loads_line
from memento.scoring.metrics import split_answers

DatasetFormat = Literal["auto", "deepresearcher", "gaia", "jsonl"]
"""How to read a dataset path; `auto` picks `gaia` for folders and otherwise sniffs the fields."""

GAIA_METADATA = "metadata.jsonl"


class DatasetError(ValueError):
    """A dataset row or file that cannot be read; the message names the file and line."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


class Task(BaseModel):
    """One evaluation task."""

    model_config = ConfigDict(frozen=True)

    task_id: str = Field(description="Stable id, unique within the dataset (resume key).")
    question: str = Field(description="The question handed to the agent.")
    ground_truth: list[str] = Field(description="Accepted answers (may be empty: no reference).")
    data_source: str = Field(description="Subset the task comes from (e.g. 'nq', 'gaia-L1').")
    level: str | None = Field(default=None, description="GAIA level, when given.")
    file_path: Path | None = Field(default=None, description="Attached file for document tools.")
    line: int = Field(description="1-based line of the task in its file.")


class BadRow(BaseModel):
    """A row skipped because it was malformed."""

    path: Path = Field(description="File holding the row.")
    line: int = Field(description="1-based line number.")
    reason: str = Field(description="What was wrong.")


class Dataset(BaseModel):
    """Loaded tasks plus the rows skipped with `skip_bad`."""

    path: Path = Field(description="File or folder the tasks came from.")
    format: str = Field(description="Format the path was read as.")
    tasks: list[Task] = Field(description="Tasks, in run order.")
    skipped: list[BadRow] = Field(default_factory=list, description="Malformed rows skipped.")

    def sources(self) -> dict[str, int]:
        """Number of tasks per data source, sorted by name."""
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.data_source] = counts.get(task.data_source, 0) + 1
        return dict(sorted(counts.items()))


class FieldMap(BaseModel):
    """Field names of a generic JSONL dataset."""

    question: str = Field(default="question", description="Field holding the question.")
    truth: str = Field(default="ground_truth", description="Field holding the accepted answers.")
    task_id: str | None = Field(default="task_id", description="Id field; line-based if absent.")
    source: str | None = Field(default="data_source", description="Data-source field, optional.")
    default_source: str | None = Field(default=None, description="Source when the row has none.")


def _iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line, object) for every non-blank line, or (line, reason) when it is not an object."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(path, None, f"cannot open: {exc.strerror or exc}") from exc
    with handle:
        try:
            for lineno, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    obj = loads_line(text)
                except json.JSONDecodeError as exc:
                    yield lineno, f"invalid JSON ({exc.msg} at column {exc.colno})"
                    continue
                yield lineno, obj if isinstance(obj, dict) else "row is not a JSON object"
        except UnicodeDecodeError as exc:
            raise DatasetError(path, None, f"not UTF-8 text: {exc.reason}") from exc


def _text(row: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = row.get(field)
    if value is None:
        if required:
            raise ValueError(f"missing field {field!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field {field!r} must be a string, got {type(value).__name__}")
    return str(value)


def _answers(row: dict[str, Any], field: str) -> list[str]:
    value = row.get(field)
    if value is None:
        raise ValueError(f"missing field {field!r}")
    if isinstance(value, list):
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
            raise ValueError(f"field {field!r} must be a string or a list of strings")
        return split_answers([str(v) for v in value])
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field {field!r} must be a string or a list of strings")
    return split_answers(str(value))


def _row_task(
    path: Path, line: int, row: dict[str, Any], fields: FieldMap, require_source: bool
) -> Task:
    question = _text(row, fields.question, required=True) or ""
    if not question.strip():
        raise ValueError(f"field {fields.question!r} is empty")
    truth = _answers(row, fields.truth)
    if not truth:
        raise ValueError(f"field {fields.truth!r} holds no answer")
    source = _text(row, fields.source, required=require_source) if fields.source else None
    task_id = _text(row, fields.task_id, required=False) if fields.task_id else None
    return Task(
        task_id=task_id or f"{path.stem}:{line}",
        question=question,
        ground_truth=truth,
        data_source=source or fields.default_source or path.stem,
        line=line,
    )


def _gaia_task(folder: Path, line: int, row: dict[str, Any]) -> Task:
    task_id = _text(row, "task_id", required=True) or ""
    question = _text(row, "Question", required=True) or ""
    if not question.strip():
        raise ValueError("field 'Question' is empty")
    truth = _text(row, "Final answer", required=False)
    level = _text(row, "Level", required=False)
    file_name = _text(row, "file_name", required=False)
    file_path: Path | None = None
    if file_name:
        try:
            file_path = (folder / file_name).resolve()
            inside = file_path.is_relative_to(folder.resolve())
            found = inside and file_path.is_file()
        except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, name too long, link loop
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ValueError(f"file_name {file_name!r} cannot be opened: {why}") from exc
        if not inside:
            raise ValueError(f"file_name {file_name!r} points outside {folder}")
        if not found:
            raise ValueError(f"attached file {file_name!r} not found in {folder}")
    return Task(
        task_id=task_id,
        question=question,
        ground_truth=split_answers(truth) if truth is not None else [],
        data_source=f"gaia-L{level}" if level else "gaia",
        level=level,
        file_path=file_path,
        line=line,
    )


def _read(path: Path, fmt: DatasetFormat, fields: FieldMap, skip_bad: bool) -> Dataset:
    source_file = path / GAIA_METADATA if fmt == "gaia" else path
    tasks: list[Task] = []
    skipped: list[BadRow] = []
    seen: dict[str, int] = {}
    for line, row in _iter_rows(source_file):
        try:
            if isinstance(row, str):
                raise ValueError(row)
            if fmt == "gaia":
                task = _gaia_task(path, line, row)
            else:
                task = _row_task(path, line, row, fields, require_source=fmt == "deepresearcher")
            if task.task_id in seen:
                raise ValueError(
                    f"duplicate task_id {task.task_id!r} (first on line {seen[task.task_id]})"
                )
        except ValueError as exc:
            if not skip_bad:
                raise DatasetError(source_file, line, str(exc)) from exc
            skipped.append(BadRow(path=source_file, line=line, reason=str(exc)))
            continue
        seen[task.task_id] = line
        tasks.append(task)
    return Dataset(path=path, format=fmt, tasks=tasks, skipped=skipped)


def _sniff(path: Path) -> DatasetFormat:
    if path.is_dir():
        return "gaia"
    for _, row in _iter_rows(path):
        if isinstance(row, dict):
            if {"question", "ground_truth", "data_source"} <= row.keys():
                return "deepresearcher"
            return "jsonl"
    return "jsonl"


def select(
    tasks: Sequence[Task],
    *,
    sources: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> list[Task]:
    """Filter by data source, then sample.

    Args:
        tasks: Tasks in file order.
        sources: Data sources to keep (case-insensitive); all when None or empty.
        limit: At most this many tasks.
        seed: None keeps file order (the first `limit` tasks); an int draws a random sample of
            `limit` tasks (all when `limit` is None) in a random order fixed by the seed.

    Returns:
        The selected tasks.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    chosen = list(tasks)
    if sources:
        available = {t.data_source.lower(): t.data_source for t in chosen}
        wanted = {s.lower() for s in sources}
        unknown = sorted(s for s in sources if s.lower() not in available)
        if unknown:
            raise ValueError(
                f"unknown data source(s) {unknown}; the dataset has {sorted(available.values())}"
            )
        chosen = [t for t in chosen if t.data_source.lower() in wanted]
    count = len(chosen) if limit is None else min(limit, len(chosen))
    if seed is None:
        return chosen[:count]
    return random.Random(seed).sample(chosen, count)


def load_dataset(
    path: str | Path,
    *,
    fmt: DatasetFormat = "auto",
    fields: FieldMap | None = None,
    sources: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """Read a dataset, then filter and sample it (see `select`).

    Args:
        path: A JSONL file, or a GAIA-style folder holding `metadata.jsonl` and attached files.
        fmt: Format; `auto` sniffs it.
        fields: Field names for the generic `jsonl` format.
        sources: Data sources to keep.
        limit: At most this many tasks.
        seed: Sampling seed (see `select`).
        skip_bad: Skip and record malformed rows instead of raising.

    Returns:
        The dataset; `skipped` lists the malformed rows when `skip_bad` is set.

    Raises:
        DatasetError: A missing or unreadable file, or a malformed row (file and line named).
    """
    root = Path(path)
    if not root.exists():
        raise DatasetError(root, None, "no such file or folder")
    kind = _sniff(root) if fmt == "auto" else fmt
    if kind == "gaia" and not (root / GAIA_METADATA).is_file():
        raise DatasetError(root, None, f"a GAIA-style folder needs {GAIA_METADATA}")
    data = _read(root, kind, fields or FieldMap(), skip_bad)
    try:
        data.tasks = select(data.tasks, sources=sources, limit=limit, seed=seed)
    except ValueError as exc:
        raise DatasetError(root, None, str(exc)) from exc
    return data
