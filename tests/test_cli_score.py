"""`memento score`: score any predictions file with either metric family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.scoring.metrics import score


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    return path


ROWS: list[object] = [
    {"prediction": "The Beatles", "ground_truth": "Beatles<|answer_split|>Fab Four"},
    {"prediction": "Paris Paris France", "ground_truth": ["Paris"]},
    {"prediction": "", "ground_truth": "London"},
    {"prediction": None, "ground_truth": "Rome"},
]


def _invoke(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    out: dict[str, object] = json.loads(result.stdout)
    return out


@pytest.mark.parametrize("metric", ["deepresearcher", "squad"])
def test_score_json_is_the_mean_of_per_row_scores(tmp_path: Path, metric: str) -> None:
    path = _write(tmp_path / "preds.jsonl", ROWS)
    out = _invoke(str(path), "--metric", metric, "--json")
    assert set(out) == {"n", "metric", "em", "f1", "pm"}
    assert out["n"] == 4 and out["metric"] == metric
    per_row = [score(r["prediction"], r["ground_truth"], metric) for r in ROWS]  # type: ignore[index, arg-type]
    for key in ("em", "f1", "pm"):
        assert out[key] == pytest.approx(sum(getattr(s, key) for s in per_row) / 4)


def test_score_hand_worked_totals(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl", ROWS)
    # deepresearcher: row 1 EM 0 (articles kept), F1 2/3 ({the, beatles} vs {beatles}), PM 1;
    # row 2 EM 0, F1 2/3 (sets), PM 1; rows 3 and 4 score 0.
    dr = _invoke(str(path), "--json")
    assert dr["metric"] == "deepresearcher"
    assert (dr["em"], dr["f1"], dr["pm"]) == pytest.approx((0.0, (4 / 3) / 4, 0.5))
    # squad: row 1 EM 1, F1 1, PM 1; row 2 F1 1/2 (multisets), PM 1.
    sq = _invoke(str(path), "--metric", "squad", "--json")
    assert (sq["em"], sq["f1"], sq["pm"]) == pytest.approx((0.25, 1.5 / 4, 0.5))


def test_score_with_custom_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "other.jsonl", [{"pred_answer": "42", "gold": ["42", "forty-two"]}])
    out = _invoke(str(path), "--prediction-field", "pred_answer", "--truth-field", "gold", "--json")
    assert (out["n"], out["em"], out["f1"], out["pm"]) == (1, 1.0, 1.0, 1.0)


def test_score_plain_output(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl", ROWS[:1])
    result = CliRunner().invoke(app, ["score", str(path), "--metric", "squad"])
    assert result.exit_code == 0
    assert "n=1 metric=squad EM=100.0" in result.stdout


def test_score_bad_row_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl", [ROWS[0], {"prediction": "x"}, "{oops"])
    result = CliRunner().invoke(app, ["score", str(path), "--json"])
    assert result.exit_code == 2
    assert f"{path}:2: missing field 'ground_truth'" in result.output
    skipped = CliRunner().invoke(app, ["score", str(path), "--json", "--skip-bad"])
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["n"] == 1
    assert "skipped 2 malformed row(s)" in skipped.stderr


def test_score_rejects_unknown_metric(tmp_path: Path) -> None:
    path = _write(tmp_path / "preds.jsonl", ROWS)
    result = CliRunner().invoke(app, ["score", str(path), "--metric", "bleu"])
    assert result.exit_code == 2


@pytest.mark.upstream
@pytest.mark.integration
def test_score_upstream_file_against_itself(upstream_dir: Path, tmp_path: Path) -> None:
    # Predict the first accepted answer of every upstream row: EM = F1 = PM = 1 in both families,
    # run in a fresh interpreter as a user would.
    rows = [json.loads(line) for line in (upstream_dir / "deepresearcher.jsonl").open()]
    preds = [
        {
            "prediction": r["ground_truth"].split("<|answer_split|>")[0],
            "ground_truth": r["ground_truth"],
        }
        for r in rows
    ]
    path = _write(tmp_path / "self.jsonl", preds)  # type: ignore[arg-type]
    proc = subprocess.run(
        [sys.executable, "-c", "from memento.cli.main import app; app()", "score", str(path)]
        + ["--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n"] == 3197
    assert out["em"] == out["f1"] == out["pm"] == 1.0


def test_score_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(tmp_path / "nope.jsonl"), "--json"])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output
