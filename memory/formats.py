"""Case files: the upstream memory.jsonl and the project's own JSONL, read and written whole.

- upstream: one `{"case": task, "plan": JSON text {"plan":[{"id","description"}]},
  "case_label": "positive"|"negative"}` per line (github.com/Agent-on-the-Fly/Memento). Imported
  cases get reward 1.0 (positive) or 0.0 (negative) and a content-hash id.
- memento: one `Case` per line with every field (the plan as a JSON object); round-trips exactly.

Reading validates the whole file before anything is stored; the first bad line raises
`FormatError` naming the file and line. Writing goes to a temporary file renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from memento.infra.jsonl import loads_line
from memento.memory.codec import case_id_for
from memento.memory.records import Case, Plan

Format = Literal["upstream", "memento"]
UPSTREAM_FIELDS = ("case", "plan", "case_label")
UPSTREAM_SOURCE = "memento-upstream"


class FormatError(ValueError):
    """A case file that cannot be read: names the file and the 1-based line."""

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path} line {line}: {problem}")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for each non-blank line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise FormatError(path, 0, f"cannot open: {exc.strerror}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(path, number, f"not UTF-8 text: {exc.reason}") from None
            if not text.strip():
                continue
            try:
                row = loads_line(text)
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON: {exc.msg} (column {exc.colno})"
                raise FormatError(path, number, problem) from None
            if not isinstance(row, dict):
                raise FormatError(path, number, f"expected a JSON object, got {type(row).__name__}")
            yield number, row


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def detect_format(path: Path | str) -> Format:
    """Guess a file's format from its first object: upstream rows have `case`, ours `task`."""
    path = Path(path)
    for number, row in _rows(path):
        if "case" in row and "case_label" in row:
            return "upstream"
        if "task" in row:
            return "memento"
        raise FormatError(path, number, "neither an upstream case nor a Memento case")
    return "memento"


def _upstream_case(path: Path, number: int, row: dict[str, Any], namespace: str) -> Case:
    missing = [f for f in UPSTREAM_FIELDS if f not in row]
    if missing:
        raise FormatError(path, number, f"missing field {', '.join(map(repr, missing))}")
    extra = sorted(set(row) - set(UPSTREAM_FIELDS))
    if extra:
        raise FormatError(path, number, f"unexpected field {', '.join(map(repr, extra))}")
    task, plan_text, label = row["case"], row["plan"], row["case_label"]
    if not isinstance(task, str) or not task.strip():
        raise FormatError(path, number, "case must be a non-empty string")
    if label not in ("positive", "negative"):
        raise FormatError(path, number, f"case_label must be 'positive' or 'negative': {label!r}")
    try:
        plan = Plan.parse(plan_text)
    except ValidationError as exc:
        problem = f"plan is not the plan shape: {_first_error(exc)}"
        raise FormatError(path, number, problem) from None
    except ValueError as exc:
        raise FormatError(path, number, f"plan is not the plan shape: {exc}") from exc
    return Case(
        id=case_id_for(namespace, task, plan),
        task=task,
        plan=plan,
        label=label,
        reward=1.0 if label == "positive" else 0.0,
        source=UPSTREAM_SOURCE,
        namespace=namespace,
    )


def _memento_case(path: Path, number: int, row: dict[str, Any], namespace: str | None) -> Case:
    if namespace is not None:
        row = {**row, "namespace": namespace}
    try:
        case = Case.model_validate(row)
    except ValidationError as exc:
        problem = _first_error(exc)
        if problem.startswith("plan"):
            problem = f"plan is not the plan shape: {problem}"
        raise FormatError(path, number, problem) from None
    except ValueError as exc:  # a plan given as malformed JSON text
        raise FormatError(path, number, f"plan is not the plan shape: {exc}") from exc
    # Checked here, at the file boundary, not in `Case`: cases already stored stay readable.
    if not case.task.strip():
        raise FormatError(path, number, "task must not be blank")
    try:
        datetime.fromisoformat(case.created_at)
    except ValueError:
        problem = f"created_at is not an ISO-8601 time: {case.created_at[:60]!r}"
        raise FormatError(path, number, problem) from None
    return case


def read_cases(
    path: Path | str,
    *,
    format: Format | Literal["auto"] = "auto",
    namespace: str | None = None,
) -> list[Case]:
    """Read and validate a whole case file.

    Args:
        path: the JSONL file.
        format: "upstream", "memento" or "auto" (guess from the first line).
        namespace: namespace for the cases (upstream default "default"; for memento files it
            replaces each case's own namespace when given).

    Raises:
        FormatError: at the first bad line (bad JSON, missing field, plan not the plan shape,
            blank task, created_at not ISO-8601, duplicate id in a memento file), naming the
            file and line.
    """
    path = Path(path)
    kind = detect_format(path) if format == "auto" else format
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, row in _rows(path):
        if kind == "upstream":
            case = _upstream_case(path, number, row, namespace or "default")
        else:
            case = _memento_case(path, number, row, namespace)
            if case.id in first_line:
                raise FormatError(
                    path, number, f"duplicate id {case.id!r} (first on line {first_line[case.id]})"
                )
        first_line.setdefault(case.id, number)
        cases.append(case)
    return cases


def case_row(case: Case, format: Format) -> dict[str, Any]:
    """One case as a JSON object of the given format."""
    if format == "upstream":
        return {"case": case.task, "plan": case.plan.to_json(), "case_label": case.label}
    return case.model_dump(mode="json")


def write_cases(path: Path | str, cases: Iterable[Case], *, format: Format = "memento") -> int:
    """Write cases as JSONL atomically (temporary file, then rename); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for case in cases:
                out.write(json.dumps(case_row(case, format), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
