"""The real upstream memory.jsonl (1,278 cases) through `memento cases import/export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory.records import Plan
from memento.testing import HashEmbeddings

pytestmark = pytest.mark.upstream
runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEMENTO_CHROMA_URL", raising=False)
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    return tmp_path / "home"


def rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_import_upstream_memory_exactly_and_round_trip(upstream_dir: Path, tmp_path: Path) -> None:
    source = upstream_dir / "memory.jsonl"
    result = runner.invoke(app, ["cases", "import", str(source), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1278  # no dedup by default: exact count
    stats = json.loads(runner.invoke(app, ["cases", "stats", "--json"]).stdout)
    assert (stats["count"], stats["positive"], stats["negative"]) == (1278, 897, 381)

    # Upstream format: every (case, plan, label) comes back; the plan JSON text is canonicalised.
    out = tmp_path / "memory_out.jsonl"
    runner.invoke(app, ["cases", "export", str(out), "--format", "upstream"])

    def key(r: dict[str, str]) -> tuple[str, str, str]:
        return (r["case"], Plan.parse(r["plan"]).to_json(), r["case_label"])

    assert sorted(map(key, rows(out))) == sorted(map(key, rows(source)))

    # Project format: export -> import elsewhere -> export is byte-identical.
    mine = tmp_path / "cases.jsonl"
    runner.invoke(app, ["cases", "export", str(mine)])
    other = tmp_path / "other"
    runner.invoke(app, ["cases", "import", str(mine), "--home", str(other)])
    again = tmp_path / "cases2.jsonl"
    runner.invoke(app, ["cases", "export", str(again), "--home", str(other)])
    assert mine.read_bytes() == again.read_bytes()
    assert len(rows(again)) == 1278
