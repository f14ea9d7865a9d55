"""`memento q train|eval|info`: JSON output, saved checkpoint, determinism, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.memory import embeddings as emb_module
from memento.memory.q.checkpoint import load_checkpoint
from memento.testing import HashEmbeddings

runner = CliRunner()
KEYS = {"auc", "accuracy", "n_train_rows", "n_test_rows", "n_test_queries", "seconds"}


def _pairs_file(path: Path, n_queries: int = 60, labels: bool = True) -> Path:
    """Queries about 'easy' topics succeed, 'hard' ones fail; 4 cases shown per query."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_queries):
        easy = i % 2 == 0
        query = f"{'simple capital city' if easy else 'obscure multi hop'} question {i}"
        for j in rng.choice(20, size=4, replace=False):
            row = {"query": query, "case": f"case text {j}", "truth_label": easy}
            if labels:
                row["case_label"] = "positive" if j % 3 else "negative"
            rows.append(row)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _hash_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb_module, "default_embeddings", lambda: HashEmbeddings(384))


def _run(*args: str) -> dict[str, object]:
    out = runner.invoke(app, ["q", *args])
    assert out.exit_code == 0, out.output
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_train_prints_metrics_saves_checkpoint_and_eval_agrees(tmp_path: Path) -> None:
    pairs = _pairs_file(tmp_path / "pairs.jsonl")
    ckpt = tmp_path / "q"
    common = ["--pairs", str(pairs), "--holdout", "0.25", "--seed", "3", "--json"]
    trained = _run("train", *common, "--checkpoint-dir", str(ckpt))
    assert KEYS <= set(trained)
    assert trained["n_test_queries"] == 15 and trained["n_test_rows"] == 60
    assert trained["n_train_rows"] == 180
    assert float(trained["auc"]) > 0.9  # type: ignore[arg-type]
    meta = load_checkpoint(ckpt).meta
    assert meta.embedding_model == "test-hash-384" and meta.extra["seed"] == 3
    evaluated = _run("eval", *common, "--checkpoint-dir", str(ckpt))
    assert evaluated["auc"] == pytest.approx(trained["auc"])
    assert "warning" not in evaluated
    other = _run(
        "eval", "--pairs", str(pairs), "--seed", "4", "--json", "--checkpoint-dir", str(ckpt)
    )
    assert "warning" in other
    info = _run("info", "--checkpoint-dir", str(ckpt), "--json")
    assert info["version"] == 1 and info["dim"] == 384


def test_same_seed_same_split_and_auc(tmp_path: Path) -> None:
    pairs = _pairs_file(tmp_path / "pairs.jsonl")
    runs = [
        _run(
            "train",
            "--pairs",
            str(pairs),
            "--seed",
            "1",
            "--json",
            "--epochs",
            "3",
            "--checkpoint-dir",
            str(tmp_path / f"q{i}"),
        )
        for i in range(2)
    ]
    assert runs[0]["auc"] == runs[1]["auc"] and runs[0]["final_loss"] == runs[1]["final_loss"]
    a = load_checkpoint(tmp_path / "q0").network.state_dict()
    b = load_checkpoint(tmp_path / "q1").network.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "case": "c", "truth_label": true}\n{oops\n', encoding="utf-8")
    out = runner.invoke(app, ["q", "train", "--pairs", str(bad), "--checkpoint-dir", str(tmp_path)])
    assert out.exit_code == 2 and "bad.jsonl:2" in out.output
    missing = runner.invoke(app, ["q", "train", "--pairs", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    pairs = _pairs_file(tmp_path / "pairs.jsonl")
    no_ckpt = runner.invoke(
        app, ["q", "eval", "--pairs", str(pairs), "--checkpoint-dir", str(tmp_path / "none")]
    )
    assert no_ckpt.exit_code == 1 and "no Q checkpoint" in no_ckpt.output
    none = runner.invoke(app, ["q", "train", "--pairs", str(pairs), "--members", "0"])
    assert none.exit_code == 2 and "--members" in none.output


def test_case_side_label_needs_labels_task_does_not(tmp_path: Path) -> None:
    unlabelled = _pairs_file(tmp_path / "plain.jsonl", labels=False)
    common = ["--pairs", str(unlabelled), "--json", "--epochs", "2", "--frozen-encoder"]
    out = runner.invoke(app, ["q", "train", *common, "--checkpoint-dir", str(tmp_path / "a")])
    assert out.exit_code == 2
    assert (
        "pair 1" in out.output and "case_label" in out.output and "--case-side task" in out.output
    )
    assert not (tmp_path / "a" / "q.pt").exists()
    _run("train", *common, "--case-side", "task", "--checkpoint-dir", str(tmp_path / "b"))
    assert load_checkpoint(tmp_path / "b").network.config.case_side == "task"
    labelled = _pairs_file(tmp_path / "labelled.jsonl")
    _run("train", *common[2:], "--pairs", str(labelled), "--checkpoint-dir", str(tmp_path / "c"))
    assert load_checkpoint(tmp_path / "c").network.config.case_side == "label"
    wrong = runner.invoke(app, ["q", "train", *common, "--case-side", "plan"])
    assert wrong.exit_code == 2 and "case_side" in wrong.output


@pytest.mark.upstream
@pytest.mark.slow
def test_upstream_pairs_beat_logistic_regression_level(
    upstream_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real MiniLM embeddings
    out = _run(
        "train",
        "--pairs",
        str(upstream_dir / "training_data.jsonl"),
        "--holdout",
        "0.2",
        "--seed",
        "0",
        "--json",
        "--checkpoint-dir",
        str(tmp_path / "q"),
    )
    assert out["n_train_rows"] == 5600 and out["n_test_queries"] == 175
    assert float(out["auc"]) >= 0.60  # type: ignore[arg-type]
