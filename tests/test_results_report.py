"""results.jsonl writer/reader/resume keys, aggregation and the `memento report` output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.eval.group_scores import pass_at_k_by_memory, summarize
from memento.eval.report import build_report
from memento.eval.results import (
    ResultRow,
    ResultsError,
    ResultsWriter,
    RunManifest,
    finished_keys,
    read_manifest,
    read_results,
    write_manifest,
    write_rows,
)
from memento.scoring.metrics import score

SOURCES = ("nq", "hotpotqa")


def _row(
    task: str, epoch: int, memory: str, prediction: str, truth: str, **kw: object
) -> ResultRow:
    s = score(prediction, truth)
    return ResultRow(
        task_id=task,
        epoch=epoch,
        memory=memory,
        data_source=kw.pop("source", "nq"),  # type: ignore[arg-type]
        question=f"{task}?",
        prediction=prediction,
        ground_truth=[truth],
        em=s.em,
        f1=s.f1,
        pm=s.pm,
        reward=s.em,
        seconds=0.5,
        **kw,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------- writer and reader


def test_rows_round_trip_and_finished_keys(tmp_path: Path) -> None:
    rows = [_row("a", 1, "none", "x", "x"), _row("b", 1, "none", "y", "z", error="boom")]
    path = write_rows(tmp_path, rows)
    assert path == tmp_path / "results.jsonl"
    assert read_results(tmp_path) == rows
    assert finished_keys(tmp_path) == {("a", 1), ("b", 1)}
    assert finished_keys(tmp_path, include_errors=False) == {("a", 1)}
    assert finished_keys(tmp_path, memory="q") == set()
    assert finished_keys(tmp_path / "missing") == set()


def test_torn_last_line_is_ignored_then_cut_by_the_next_writer(tmp_path: Path) -> None:
    first = _row("a", 1, "none", "x", "x")
    path = write_rows(tmp_path, [first])
    whole = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(_row("b", 1, "none", "x", "x").model_dump_json().encode()[:40])  # crash mid-write
    assert read_results(path) == [first]
    assert finished_keys(path) == {("a", 1)}

    second = _row("b", 1, "none", "x", "x")
    with ResultsWriter(path) as writer:
        writer.append(second)
    assert path.read_bytes() == whole + (second.model_dump_json() + "\n").encode()
    assert read_results(path) == [first, second]


def test_whole_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    first, second = _row("a", 1, "none", "x", "x"), _row("b", 2, "none", "x", "x")
    path = tmp_path / "results.jsonl"
    path.write_text(first.model_dump_json())  # no trailing newline
    write_rows(path, [second])
    assert read_results(path) == [first, second]


def test_bad_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path, [_row("a", 1, "none", "x", "x")])
    with path.open("a") as fh:
        fh.write('{"task_id": "b"}\n')
    write_rows(path, [_row("c", 1, "none", "x", "x")])
    with pytest.raises(ResultsError, match=r"results.jsonl:2: bad result row"):
        read_results(path)


def test_manifest_round_trip(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    manifest = RunManifest(dataset="d.jsonl", memory="q", epochs=3, model="offline", skipped_rows=2)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest


# ---------------------------------------------------------------- aggregation


def test_summary_keeps_the_last_row_of_a_key_and_rescoring_switches_family() -> None:
    rows = [
        _row("a", 1, "none", "wrong", "The Beatles"),
        _row("a", 1, "none", "Beatles", "The Beatles"),  # retried: replaces the first
    ]
    (overall, by_source) = summarize(rows)
    assert overall.source == "all" and overall.n == 1 and by_source.source == "nq"
    assert overall.em.mean == 0.0  # deepresearcher keeps "the"
    (squad, _) = summarize(rows, metric="squad")
    assert squad.metric == "squad" and squad.em.mean == 1.0


def test_pass_at_k_over_epochs() -> None:
    rows = [
        _row("a", 1, "q", "no", "yes"),
        _row("a", 2, "q", "yes", "yes"),
        _row("b", 1, "q", "no", "yes"),
        _row("b", 2, "q", "no", "yes", judge_correct=True),  # judge wins over EM
    ]
    assert pass_at_k_by_memory(rows) == {"q": {1: 0.0, 2: 1.0}}


# ---------------------------------------------------------------- report


def _synthetic_run(folder: Path, seed: int) -> list[ResultRow]:
    """Two memory modes, two epochs, two sources; epoch 2 of `similarity` answers better."""
    rng = random.Random(seed)
    rows = []
    for memory in ("none", "similarity"):
        for epoch in (1, 2):
            for i in range(12):
                truth = f"answer number {i}"
                good = rng.random() < (0.3 if memory == "none" or epoch == 1 else 0.8)
                prediction = truth if good else rng.choice([f"answer {i}", "unknown", ""])
                rows.append(
                    _row(
                        f"t{i}",
                        epoch,
                        memory,
                        prediction,
                        truth,
                        source=SOURCES[i % 2],
                        input_tokens=100 + i,
                        output_tokens=10,
                        cost=0.001,
                    )
                )
    write_rows(folder, rows)
    write_manifest(folder, RunManifest(memory="mixed", epochs=2, model="offline"))
    return rows


def _pct(values: list[float]) -> str:
    return f"{100 * sum(values) / len(values):.1f}"


def test_report_files_hold_the_numbers_of_the_rows(tmp_path: Path) -> None:
    run = tmp_path / "run-a"
    rows = _synthetic_run(run, seed=1)
    files = build_report([run], tmp_path / "out")
    names = sorted(p.name for p in files.plots)
    assert names == ["learning_curve.png", "learning_curve.svg", "per_source.png", "per_source.svg"]
    for plot in files.plots:
        assert plot.stat().st_size > 1000
    assert files.plots[0].read_bytes().startswith(b"\x89PNG")
    text = files.markdown.read_text()
    assert "`deepresearcher`" in text
    assert "stand-in model" in text

    lines = text.splitlines()
    for memory in ("none", "similarity"):
        for epoch in (1, 2):
            sel = [r for r in rows if r.memory == memory and r.epoch == epoch]
            tokens_in = sum(r.input_tokens or 0 for r in sel)
            expected = (
                f"| run-a | {memory} | {epoch} | {len(sel)} | {_pct([r.em for r in sel])} "
                f"| {_pct([r.f1 for r in sel])} ["
            )
            (line,) = [ln for ln in lines if ln.startswith(expected)]
            assert f"| {_pct([r.pm for r in sel])} |" in line
            assert f"{tokens_in:,} / {10 * len(sel):,}" in line
            for source in SOURCES:
                sub = [r for r in sel if r.data_source == source]
                prefix = (
                    f"| run-a | {memory} | {epoch} | {source} | {len(sub)} "
                    f"| {_pct([r.em for r in sub])} | {_pct([r.f1 for r in sub])} ["
                )
                assert sum(ln.startswith(prefix) for ln in lines) == 1, prefix
    for memory, by_k in pass_at_k_by_memory(rows).items():
        cells = " | ".join(f"{100 * by_k[k]:.1f}" for k in (1, 2))
        assert f"| run-a | {memory} | {cells} |" in text


def test_report_cli_compares_two_runs(tmp_path: Path) -> None:
    _synthetic_run(tmp_path / "a", seed=1)
    _synthetic_run(tmp_path / "b", seed=2)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "| a | none | 1 |" in text and "| b | similarity | 2 |" in text
    svg = (out / "learning_curve.svg").read_text()
    assert "a / similarity" in svg and "b / none" in svg


def test_report_cli_rejects_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a run folder" in result.output


def test_report_squad_metric_rescoring(tmp_path: Path) -> None:
    run = tmp_path / "r"
    write_rows(run, [_row("a", 1, "none", "Beatles", "The Beatles")])
    text = build_report([run], tmp_path / "o", metric="squad").markdown.read_text()
    assert "`squad`" in text
    assert "| r | none | 1 | 1 | 100.0 |" in text
    assert json.loads((run / "results.jsonl").read_text())["metric"] == "deepresearcher"


def test_running_score_and_summary_table() -> None:
    from rich.console import Console

    from memento.eval.console import RunningScore, summary_table

    rows = [_row("a", 1, "q", "x", "x", source="nq"), _row("b", 1, "q", "y", "z", source="tq")]
    running = RunningScore()
    for r in rows:
        running.add(r)
    assert running.means()["acc"] == 0.5
    assert running.describe().startswith("acc 50.0 | F1 50.0 | PM 50.0 (n=2)")
    console = Console(record=True, width=200)
    console.print(summary_table(summarize(rows), title="deepresearcher"))
    text = console.export_text()
    assert "deepresearcher" in text
    lines = [ln for ln in text.splitlines() if "│ q " in ln or ln.strip().startswith("q ")]
    assert any(" all " in ln and " 50.0 " in ln for ln in lines), text
    assert any(" tq " in ln and " 0.0 " in ln for ln in lines), text


def test_report_of_an_empty_run_writes_files_without_warnings(tmp_path: Path) -> None:
    import warnings

    (tmp_path / "empty").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = build_report([tmp_path / "empty"], tmp_path / "out")
    assert "| empty | `" in files.markdown.read_text()
    assert all(p.exists() for p in files.plots)
