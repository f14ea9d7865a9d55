"""`memento cases ...` through Typer's CliRunner, with MEMENTO_HOME in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.testing import HashEmbeddings

PLAN = '{"plan":[{"id":1,"description":"Find it."}]}'
runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEMENTO_CHROMA_URL", raising=False)
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    return tmp_path / "home"


def upstream_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = [json.dumps({"case": t, "plan": PLAN, "case_label": lab}) for t, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS = [
    ("Who wrote the novel Dracula?", "positive"),
    ("Who wrote the novel Emma?", "negative"),
    ("What is the capital of Peru?", "positive"),
]


def stats() -> dict[str, object]:
    result = runner.invoke(app, ["cases", "stats", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_import_then_stats(tmp_path: Path, home: Path) -> None:
    path = upstream_file(tmp_path / "memory.jsonl", ROWS)
    result = runner.invoke(app, ["cases", "import", str(path), "--namespace", "team"])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.stdout
    assert stats() == {
        "count": 3,
        "positive": 2,
        "negative": 1,
        "namespaces": {"team": 3},
        "embedding_model": "test-hash-64",
    }
    assert (home / "chroma").is_dir()
    again = runner.invoke(app, ["cases", "import", str(path), "--namespace", "team", "--json"])
    assert json.loads(again.stdout)["already_present"] == 3
    assert stats()["count"] == 3


def test_malformed_line_aborts_whole_import(tmp_path: Path) -> None:
    runner.invoke(app, ["cases", "import", str(upstream_file(tmp_path / "ok.jsonl", ROWS[:1]))])
    bad = upstream_file(tmp_path / "memory.jsonl", ROWS[1:])
    with bad.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"case": "x", "plan": '{"plan": "nope"}', "case_label": "positive"}))
        out.write("\n")
    result = runner.invoke(app, ["cases", "import", str(bad)])
    assert result.exit_code != 0
    assert "memory.jsonl line 3: plan is not the plan shape" in result.stderr
    assert stats()["count"] == 1


def test_export_round_trips_through_import(tmp_path: Path) -> None:
    runner.invoke(app, ["cases", "import", str(upstream_file(tmp_path / "m.jsonl", ROWS))])
    first = tmp_path / "export1.jsonl"
    assert runner.invoke(app, ["cases", "export", str(first)]).exit_code == 0
    other = tmp_path / "other-home"
    imported = runner.invoke(app, ["cases", "import", str(first), "--home", str(other)])
    assert imported.exit_code == 0, imported.output
    second = tmp_path / "export2.jsonl"
    runner.invoke(app, ["cases", "export", str(second), "--home", str(other)])
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    assert len(first.read_text(encoding="utf-8").splitlines()) == 3
    up = tmp_path / "up.jsonl"
    runner.invoke(app, ["cases", "export", str(up), "--format", "upstream", "--label", "positive"])
    rows = [json.loads(line) for line in up.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["case"] for r in rows) == sorted(t for t, lab in ROWS if lab == "positive")
    assert all(set(r) == {"case", "plan", "case_label"} for r in rows)


def test_search_json_top_k_with_scores(tmp_path: Path) -> None:
    runner.invoke(app, ["cases", "import", str(upstream_file(tmp_path / "m.jsonl", ROWS))])
    result = runner.invoke(
        app, ["cases", "search", "Who wrote the novel Emma?", "-k", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 2
    assert hits[0]["task"] == "Who wrote the novel Emma?"
    assert hits[0]["score"] >= hits[1]["score"]
    assert {"id", "plan", "label", "reward", "namespace"} <= set(hits[0])


def test_list_pages_through_cases(tmp_path: Path) -> None:
    runner.invoke(app, ["cases", "import", str(upstream_file(tmp_path / "m.jsonl", ROWS))])
    table = runner.invoke(app, ["cases", "list", "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "cases 1-2 of 3" in table.stdout and "--offset 2" in table.stdout
    page1 = json.loads(runner.invoke(app, ["cases", "list", "--limit", "2", "--json"]).stdout)
    page2 = json.loads(
        runner.invoke(app, ["cases", "list", "--limit", "2", "--offset", "2", "--json"]).stdout
    )
    assert len(page1) == 2 and len(page2) == 1
    assert {c["task"] for c in page1 + page2} == {t for t, _ in ROWS}


def test_delete_by_id_and_namespace(tmp_path: Path) -> None:
    path = upstream_file(tmp_path / "m.jsonl", ROWS)
    runner.invoke(app, ["cases", "import", str(path)])
    runner.invoke(app, ["cases", "import", str(path), "--namespace", "b"])
    one = json.loads(runner.invoke(app, ["cases", "list", "--json", "--limit", "1"]).stdout)[0]
    result = runner.invoke(app, ["cases", "delete", one["id"], "missing-id"])
    assert "deleted 1 cases" in result.stdout
    result = runner.invoke(app, ["cases", "delete", "--namespace", "b", "--all"])
    assert "deleted 3 cases" in result.stdout
    assert stats()["count"] == 2
    assert runner.invoke(app, ["cases", "delete", "--all"]).exit_code != 0


def test_fill_labelled_reads_only_the_unread(tmp_path: Path) -> None:
    path = upstream_file(tmp_path / "m.jsonl", ROWS)
    runner.invoke(app, ["cases", "import", str(path)])
    runner.invoke(app, ["cases", "import", str(path), "--namespace", "b"])

    def fill(*args: str) -> dict[str, int]:
        result = runner.invoke(app, ["cases", "fill-labelled", "--json", *args])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    assert fill("--namespace", "b") == {"read": 3, "count": 3}
    assert fill() == {"read": 3, "count": 6}  # the other namespace's three
    assert fill() == {"read": 0, "count": 6}
    assert fill("--refresh", "-n", "b") == {"read": 3, "count": 3}


def test_bad_options_fail_cleanly(tmp_path: Path) -> None:
    path = upstream_file(tmp_path / "m.jsonl", ROWS)
    assert runner.invoke(app, ["cases", "import", str(path), "--format", "csv"]).exit_code == 2
    assert runner.invoke(app, ["cases", "list", "--label", "maybe"]).exit_code == 2
    missing = runner.invoke(app, ["cases", "import", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code != 0 and "nope.jsonl" in missing.stderr


def test_progress_bar_draws_on_terminal_only() -> None:
    import io

    from memento.infra.progress import progress_bar

    quiet = io.StringIO()
    with progress_bar(stream=quiet) as progress:  # StringIO is not a TTY
        progress("embedding", 5, 10)
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    with progress_bar(stream=shown, enabled=True) as progress:
        progress("embedding", 10, 10)
    assert "embedding" in shown.getvalue()
