"""README.md cannot rot: its Python example runs, its tables match the code, its links resolve.

The example runs as a newcomer would run it: a fresh interpreter in an empty folder, no model
service, no `MEMENTO_*` or provider variable set, no network.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memento.graphs.context import Context
from memento.settings import Settings, env_name, get_settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 200
LINK = re.compile(r"\]\(([^)\s]+)\)")
PAGES = [README, *sorted(DOCS.glob("*.md")), ROOT / "RELIABILITY.md"]


def readme() -> str:
    """The README's text."""
    return README.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of the `## ` section whose title starts with `heading`, up to the next one."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no section '## {heading}'"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the Markdown table rows in `text`, header and rule rows left out."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[-:| ]+\|", line.strip()):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows[1:]


def first_cells(text: str) -> list[str]:
    """The backticked names in the first column of the section's table."""
    names = []
    for row in table_rows(text):
        name = re.fullmatch(r"`([^`]+)`", row[0])
        assert name, f"first cell is not one backticked name: {row[0]!r}"
        names.append(name.group(1))
    return names


def default_cell(value: object) -> str:
    """How the Context table shows a field's default."""
    if value == "":
        return '`""`'
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of every heading in a Markdown file (outside code blocks)."""
    found, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#+ (.*)", line)):
            found.add(slug(heading.group(1)))
    return found


def test_readme_is_at_most_200_lines() -> None:
    assert len(readme().splitlines()) <= MAX_README_LINES


def test_python_example_comes_within_the_first_60_lines() -> None:
    lines = readme().splitlines()
    assert "```python" in lines[:60]


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings read from an environment with none of their variables set, as on a new machine."""
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("clean_settings")
def test_context_table_lists_every_field_with_its_default() -> None:
    rows = table_rows(section(readme(), "Context"))
    shown = {row[0].strip("`"): row for row in rows}
    fields = {f.name for f in dataclasses.fields(Context)}
    assert len(shown) == len(rows), "a field appears twice in the Context table"
    assert sorted(set(shown) - set(fields)) == [], "rows naming no field of Context"
    assert sorted(set(fields) - set(shown)) == [], "fields of Context missing from the table"
    defaults = Context()
    for name in fields:
        assert shown[name][1] == default_cell(getattr(defaults, name)), f"default of {name}"


def test_environment_table_lists_every_setting() -> None:
    names = first_cells(section(readme(), "Environment variables"))
    expected = {env_name(field) for field in Settings.model_fields}
    assert len(names) == len(set(names))
    assert set(names) == expected


def test_every_relative_link_in_readme_and_docs_resolves() -> None:
    checked = 0
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            assert resolved.is_file(), f"{page.name}: link to a missing file {target}"
            if anchor and resolved.suffix == ".md":
                assert anchor in anchors(resolved), f"{page.name}: no heading for {target}"
            checked += 1
    assert checked >= 10


def test_every_repository_path_the_pages_name_exists() -> None:
    named = re.compile(
        r"(?<![\w/.<-])((?:tests|benchmarks|memory|graphs|nodes|tools|memento|notebooks|docs|\.ci)"
        r"/[\w./-]*\w)"
    )
    missing = [
        f"{page.name}: {path}"
        for page in PAGES
        for path in sorted(set(named.findall(page.read_text(encoding="utf-8"))))
        if not (ROOT / path).exists()
    ]
    assert missing == []


def test_readme_links_every_docs_page() -> None:
    linked = set(re.findall(r"\]\(docs/([^)#]+)", readme()))
    assert linked == {p.name for p in DOCS.glob("*.md")}


@pytest.mark.integration
def test_readme_python_example_runs_offline(tmp_path: Path) -> None:
    code = re.search(r"^```python\n(.*?)^```", readme(), re.M | re.S)
    assert code, "README has no Python block"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEMENTO_", "OPENAI_", "TAVILY_", "ANTHROPIC_"))
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer, reward, case_id = done.stdout.strip().rsplit(" ", 2)
    assert answer and float(reward) == 0.0  # the README says the stand-in's answer is wrong
    assert "t1" in case_id
    assert (tmp_path / ".memento" / "chroma").is_dir()  # where the README says the case goes
