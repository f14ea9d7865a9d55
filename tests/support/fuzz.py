"""Shared pieces of the property tests: example budgets, the short/long twin, JSON strategies.

Every property runs twice: a short version in every CI run (`SHORT` examples) and a `long`
version with `LONG` examples that runs only with MEMENTO_LONG=1 (tests/conftest.py). Both use
`deadline=None`: the machine is shared, and tests never assert timings. Hypothesis derandomises
nothing here, so each CI run explores new inputs; a failure prints the input that reproduces it.
The file helpers build what the readers get: rows as JSON lines with a bad line inserted or one
row spoilt, temporary files removed when a check ends, and `rejection`, which asserts a refusal.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

SHORT = 100
LONG = 3000
_NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.explain]
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
E = TypeVar("E", bound=BaseException)


def twin(
    *strategies: st.SearchStrategy[Any], short: int = SHORT, long: int = LONG
) -> Callable[[Callable[..., None]], tuple[Any, Any]]:
    """Turn a property into (short test, long test), both `@given(*strategies)`."""

    def wrap(check: Callable[..., None]) -> tuple[Any, Any]:
        quick = settings(
            max_examples=short,
            deadline=None,
            suppress_health_check=_HEALTH,
            phases=_NO_SHRINK,  # a CI failure prints its input at once, no minutes of shrinking
        )(given(*strategies)(check))
        full = settings(max_examples=long, deadline=None, suppress_health_check=_HEALTH)(
            given(*strategies)(check)
        )
        return quick, pytest.mark.long(full)

    return wrap


# Text that reaches the parsers: any Unicode (NUL, RTL marks, emoji, U+2028), sometimes huge.
texts = st.text(min_size=1, max_size=60) | st.text(min_size=1, max_size=3).map(lambda s: s * 10_000)
nonblank = texts.filter(lambda s: s.strip() != "")
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value Python's json module writes (NaN and Infinity included, as it allows)."""


positions = st.integers(0, 6)
"""Where in a file of up to 5 rows a bad line goes (past the end: clamped to the end)."""


def dump(row: Any) -> str:
    """One JSON line as upstream writes it (non-ASCII kept)."""
    return json.dumps(row, ensure_ascii=False)


# Lines that can never be a valid row, whatever the format: each family names why.
def _deep(n: int) -> str:
    return "[" * n + "]" * n


RAW_BAD_LINES: dict[str, st.SearchStrategy[str]] = {
    "not json": st.text(st.characters(exclude_characters="\r\n"), min_size=1, max_size=40).filter(
        lambda s: s.strip() != "" and not _is_json(s)
    ),
    "not an object": st.sampled_from(["[]", "[1, 2]", "42", '"text"', "null", "true", "1e5"]),
    "nested too deeply": st.integers(5_000, 200_000).map(_deep),
    "number too long": st.integers(4_400, 20_000).map(lambda n: '{"x": ' + "7" * n + "}"),
    "lone surrogate": st.sampled_from(['{"x": "\\ud800"}', '{"x": "a\\udfff"}', '{"\\udc00": 1}']),
    "truncated": st.just('{"x": "unterminated'),
}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def raw_bad_lines() -> st.SearchStrategy[tuple[str, str]]:
    """(family, line) for a line no reader may accept."""
    return st.sampled_from(sorted(RAW_BAD_LINES)).flatmap(
        lambda fam: RAW_BAD_LINES[fam].map(lambda line: (fam, line))
    )


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip, insert, delete or duplicate a few bytes of `data` (a cheap mutation fuzzer)."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = rng.randrange(len(out) + 1)
        op = rng.choice(("flip", "insert", "delete", "dup", "interesting"))
        if op == "flip" and pos < len(out):
            out[pos] ^= 1 << rng.randrange(8)
        elif op == "insert":
            out[pos:pos] = bytes([rng.randrange(256)])
        elif op == "delete" and pos < len(out):
            del out[pos]
        elif op == "dup" and out:
            start = rng.randrange(len(out))
            out[pos:pos] = out[start : start + rng.randrange(1, 64)]
        else:
            token = rng.choice(
                [
                    b"\x00",
                    b"\xff",
                    b"\xc3",
                    b"\\ud800",
                    b"NaN",
                    b"-Infinity",
                    b"{",
                    b"]",
                    b'"',
                    b"\n",
                    b"1e999",
                ]
            )
            out[pos:pos] = token
    return bytes(out)


# Bad rows: a field set to a wrong value, dropped, or an unknown field added.
NOT_STR: list[Any] = [None, 0, 1.5, [], {}]


def bad_field(table: dict[str, list[Any]], required: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """(field, how) where how is ('set', value), ('drop',) or ('extra',): each makes a bad row."""
    set_value = st.sampled_from(sorted(table)).flatmap(
        lambda f: st.sampled_from(table[f]).map(lambda v: (f, ("set", v)))
    )
    drop = st.sampled_from(required).map(lambda f: (f, ("drop",)))
    extra = st.just(("zzz_unknown", ("extra",)))
    return set_value | drop | extra


def spoil(row: dict[str, Any], how: tuple[Any, ...], field: str) -> dict[str, Any]:
    """A copy of `row` with `field` spoilt as `bad_field` drew it."""
    row = dict(row)
    if how[0] == "set":
        row[field] = how[1]
    elif how[0] == "drop":
        row.pop(field, None)
    else:
        row[field] = 1
    return row


def jsonl(rows: list[dict[str, Any]]) -> list[str]:
    """Each row as one JSON line (`dump`)."""
    return [dump(r) for r in rows]


def with_bad_line(
    rows: list[dict[str, Any]], at: int, bad: tuple[str, str]
) -> tuple[list[str], int]:
    """The lines of `rows` with `raw_bad_lines`' line inserted before row `at`; its line number."""
    lines = jsonl(rows)
    at = min(at, len(lines))
    lines.insert(at, bad[1])
    return lines, at + 1


def with_spoilt_row(
    rows: list[dict[str, Any]], at: int, spoilt: tuple[str, Any]
) -> tuple[list[str], int, str]:
    """The lines of `rows` with row `at` spoilt as `bad_field` drew it; line number and field."""
    field, how = spoilt
    at = min(at, len(rows) - 1)
    lines = jsonl(rows)
    lines[at] = dump(spoil(rows[at], how, field))
    return lines, at + 1, field


def encode_lines(lines: list[str]) -> bytes:
    """A JSONL file's bytes: `lines`, each ended by a newline (lone surrogates kept as they are)."""
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def write_bytes(blob: bytes) -> Path:
    """A temporary .jsonl file holding `blob` exactly."""
    fd, name = tempfile.mkstemp(prefix="fuzz-", suffix=".jsonl")
    with open(fd, "wb") as out:
        out.write(blob)
    return Path(name)


def write_file(lines: list[str]) -> Path:
    """A temporary JSONL file holding `lines`."""
    return write_bytes(encode_lines(lines))


@contextmanager
def bytes_file(blob: bytes) -> Iterator[Path]:
    """`write_bytes(blob)`, removed again when the block ends."""
    path = write_bytes(blob)
    try:
        yield path
    finally:
        path.unlink()


def jsonl_file(lines: list[str]) -> AbstractContextManager[Path]:
    """`write_file(lines)`, removed again when the block ends."""
    return bytes_file(encode_lines(lines))


def rejection(load: Callable[[Path], object], error: type[E], lines: list[str]) -> tuple[E, Path]:
    """Assert that `load` raises `error` on a file of `lines`; the error and the (removed) path."""
    with jsonl_file(lines) as path, pytest.raises(error) as info:
        load(path)
    return info.value, path
