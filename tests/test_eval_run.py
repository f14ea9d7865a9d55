"""`memento eval`: the resumable evaluation loop, offline, with every memory mode."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, StructuredTool, tool
from typer.testing import CliRunner

from memento.cli.main import app
from memento.eval.datasets import Task, load_dataset
from memento.eval.group_scores import summarize
from memento.eval.report import build_report
from memento.eval.results import ResultRow, read_results
from memento.eval.run_config import EvalConfig
from memento.eval.run_progress import RunProgress
from memento.eval.runner import run_eval, run_eval_sync
from memento.graphs import Context
from memento.memory.case_bank import CaseBank
from memento.memory.records import ScoredCase
from memento.memory.similarity import SimilaritySelector
from memento.settings import get_settings
from memento.testing import HashEmbeddings, RecordingLearner, make_bank

QUESTIONS = [
    ("What is the capital of France?", "Paris", "geo"),
    ("What is the capital of Japan?", "Tokyo", "geo"),
    ("What is the capital of Peru?", "Lima", "geo"),
    ("Which city is the capital of France?", "Paris", "trivia"),
    ("Which city is the capital of Japan?", "Tokyo", "trivia"),
    ("Which city is the capital of Peru?", "Lima", "trivia"),
]
FACTS = {"france": "Paris", "japan": "Tokyo", "peru": "Lima"}


@tool
def lookup(query: str) -> str:
    """Look up a capital city in a three-fact table."""
    for country, city in FACTS.items():
        if country in query.lower():
            return f"{city} is the capital of {country.title()}."
    return "no match"


def fake_tools() -> list[BaseTool]:
    return [lookup]


class FakeQLearner(RecordingLearner):
    """Stands in for the Q learner: selects by similarity, records every transition."""

    def __init__(self, bank: CaseBank) -> None:
        super().__init__()
        self.bank = bank

    def selector(self, *, greedy: bool, temperature: float) -> Any:
        inner = SimilaritySelector(self.bank)

        class Picker:
            name = "fake-q"

            def select(self, task: str, **kw: Any) -> list[ScoredCase]:
                return inner.select(task, **kw)

        return Picker()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    rows = [{"question": q, "ground_truth": [a], "data_source": s} for q, a, s in QUESTIONS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tasks(dataset: Path) -> list[Task]:
    return load_dataset(dataset).tasks


def config(out: Path, memory: str, epochs: int = 2, **kw: Any) -> EvalConfig:
    ctx = Context(reward_metric="pm", k=4)
    return EvalConfig(memory=memory, epochs=epochs, out=out, context=ctx, **kw)  # type: ignore[arg-type]


def offline(bank: CaseBank, learner: Any = None) -> dict[str, Any]:
    return {
        "planner": "offline",
        "executor": "offline",
        "tools": fake_tools(),
        "case_bank": bank,
        "learner": learner,
        "progress": False,
    }


def keys(out: Path) -> Counter[tuple[str, str, int]]:
    return Counter((r.memory, r.task_id, r.epoch) for r in read_results(out))


async def test_two_epochs_every_mode_in_its_own_namespace(
    tmp_path: Path, tasks: list[Task]
) -> None:
    bank = make_bank(tmp_path / "chroma")  # one bank for all modes: namespaces keep them apart
    out = tmp_path / "run"
    learner = FakeQLearner(bank)
    summaries = {}
    for memory in ("none", "similarity", "q"):
        summaries[memory] = await run_eval(
            tasks, config(out, memory), **offline(bank, learner if memory == "q" else None)
        )
    rows = read_results(out)
    assert keys(out) == Counter(
        {(m, t.task_id, e): 1 for m in ("none", "similarity", "q") for t in tasks for e in (1, 2)}
    )
    by_mode = {m: [r for r in rows if r.memory == m] for m in ("none", "similarity", "q")}
    # No memory: nothing shown, nothing written.
    assert all(not r.case_ids and r.case_written is None for r in by_mode["none"])
    for memory in ("similarity", "q"):
        mine = by_mode[memory]
        prefix = f"run:eval-{memory}:"
        written = {r.case_written for r in mine if r.epoch == 1}
        assert all(c and c.startswith(prefix) for c in written)
        # Within epoch 1 a task sees the cases of the tasks that finished before it.
        first = [r for r in mine if r.epoch == 1]
        assert not first[0].case_ids and all(r.case_ids for r in first[1:])
        for row in (r for r in mine if r.epoch == 2):
            assert row.case_ids, row
            assert all(c.startswith(prefix) for c in row.case_ids)  # never another mode's
            assert set(row.case_ids) & written
    assert learner.calls and all(c["key"].startswith("run:eval-q:") for c in learner.calls)
    # Token accounting from the stand-in's usage metadata; scores from the metric module.
    assert all(r.input_tokens and r.output_tokens for r in rows)
    for memory, summary in summaries.items():
        assert [e.epoch for e in summary.epochs] == [1, 2]
        assert summary.n == 12 and summary.ran == 12 and summary.skipped == 0
        for e in summary.epochs:
            mine = [r for r in by_mode[memory] if r.epoch == e.epoch]
            assert e.n == len(mine) == 6
            assert e.pm == pytest.approx(sum(r.pm for r in mine) / 6)
            assert e.reward == pytest.approx(sum(r.reward for r in mine) / 6)
            assert e.input_tokens == sum(r.input_tokens or 0 for r in mine)


async def test_rerun_skips_finished_pairs(tmp_path: Path, tasks: list[Task]) -> None:
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    partial = await run_eval(tasks[:3], config(out, "similarity"), **offline(bank))
    assert partial.ran == 6
    full = await run_eval(tasks, config(out, "similarity"), **offline(bank))
    assert full.skipped == 6 and full.ran == 6
    again = await run_eval(tasks, config(out, "similarity"), **offline(bank))
    assert again.ran == 0 and again.skipped == 12
    counts = keys(out)
    assert set(counts.values()) == {1} and len(counts) == 12


async def test_new_tasks_each_epoch_through_first_epoch(tmp_path: Path, tasks: list[Task]) -> None:
    """One call per epoch with other tasks: rows carry the epoch, cases carry over."""
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    first = await run_eval(tasks[:3], config(out, "similarity", epochs=1), **offline(bank))
    second = await run_eval(
        tasks[3:], config(out, "similarity", epochs=2, first_epoch=2), **offline(bank)
    )
    assert first.ran == 3 and second.ran == 3 and second.skipped == 0
    assert keys(out) == Counter(
        {("similarity", t.task_id, 1): 1 for t in tasks[:3]}
        | {("similarity", t.task_id, 2): 1 for t in tasks[3:]}
    )
    assert second.epochs[1].n == 3 and second.epochs[0].n == 0
    written = {r.case_written for r in read_results(out) if r.epoch == 1}
    later = [r for r in read_results(out) if r.epoch == 2]
    assert all(set(r.case_ids) & written for r in later)  # epoch 1's cases are retrieved


@pytest.mark.parametrize("first_epoch", [0, 3])
def test_first_epoch_outside_the_run_is_refused(
    tmp_path: Path, tasks: list[Task], first_epoch: int
) -> None:
    with pytest.raises(ValueError, match="first_epoch must be in 1..epochs"):
        run_eval_sync(tasks, config(tmp_path, "none", first_epoch=first_epoch), progress=False)
    assert not (tmp_path / "results.jsonl").exists()


def hanging_lookup(after: int) -> BaseTool:
    """`lookup` that hangs from its (after + 1)-th call on: a run that must be interrupted."""
    calls = 0

    async def lookup_or_hang(query: str) -> str:
        nonlocal calls
        calls += 1
        if calls > after:
            await asyncio.Event().wait()  # never set
        return str(lookup.invoke(query))

    return StructuredTool.from_function(
        coroutine=lookup_or_hang, name="lookup", description="Look up a capital city."
    )


async def test_cancelled_run_resumes_without_duplicates(tmp_path: Path, tasks: list[Task]) -> None:
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    cfg = config(out, "similarity", concurrency=2)
    job = asyncio.create_task(
        run_eval(tasks, cfg, **{**offline(bank), "tools": [hanging_lookup(4)]})
    )
    while len(read_results(out)) < 3:
        assert not job.done()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # let the next tasks reach the hanging tool
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    interrupted = len(read_results(out))
    assert 3 <= interrupted < 12
    summary = await run_eval(tasks, cfg, **offline(bank))
    assert summary.ran == 12 - interrupted
    counts = keys(out)
    assert len(counts) == 12 and set(counts.values()) == {1}
    # Threads resumed from their checkpoints write their case once (ids are per thread).
    written = [r.case_written for r in read_results(out) if r.epoch == 1]
    assert len(set(written)) == len(written)


async def test_pruned_checkpoints_leave_rows_and_resume_intact(
    tmp_path: Path, tasks: list[Task]
) -> None:
    import sqlite3

    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    await run_eval(tasks[:3], config(out, "similarity", prune_checkpoints=True), **offline(bank))
    with sqlite3.connect(out / "checkpoints.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM checkpoints").fetchone() == (0,)
    summary = await run_eval(
        tasks, config(out, "similarity", prune_checkpoints=True), **offline(bank)
    )
    assert summary.ran == 6 and summary.skipped == 6 and summary.n == 12
    assert set(keys(out).values()) == {1}


async def test_lost_row_of_finished_thread_comes_back_without_rerun(
    tmp_path: Path, tasks: list[Task]
) -> None:
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    await run_eval(tasks, config(out, "similarity", epochs=1), **offline(bank))
    results = out / "results.jsonl"
    lines = results.read_text(encoding="utf-8").splitlines(keepends=True)
    lost = json.loads(lines[-1])
    results.write_text("".join(lines[:-1]), encoding="utf-8")  # crash after the graph finished
    cases_before = bank.count()
    summary = await run_eval(tasks, config(out, "similarity", epochs=1), **offline(bank))
    assert summary.ran == 1 and bank.count() == cases_before
    back = read_results(out)[-1]
    assert back.task_id == lost["task_id"] and back.prediction == lost["prediction"]
    assert back.case_written == lost["case_written"]


class FlakyBank:
    """A case bank whose search fails while `down` is set (a store outage)."""

    def __init__(self, bank: CaseBank) -> None:
        self.bank, self.down = bank, True

    def embed_query(self, text: str) -> Any:
        if self.down:
            raise ConnectionError("case store unreachable")
        return self.bank.embed_query(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bank, name)


async def test_failing_task_is_recorded_then_resumed(tmp_path: Path, tasks: list[Task]) -> None:
    flaky = FlakyBank(make_bank(tmp_path / "chroma"))
    out = tmp_path / "run"
    cfg = config(out, "similarity", epochs=1)
    first = await run_eval(tasks[:2], cfg, **offline(flaky))  # type: ignore[arg-type]
    assert first.epochs[0].errors == 2
    assert all(r.error and "case store unreachable" in r.error for r in read_results(out))
    flaky.down = False
    second = await run_eval(tasks[:2], cfg, **offline(flaky))  # type: ignore[arg-type]
    assert second.ran == 2 and second.epochs[0].errors == 0 and second.n == 2
    rows = read_results(out)  # the retried rows replaced the error rows
    assert len(rows) == 2 and all(r.prediction and r.error is None for r in rows)


async def test_attachment_path_reaches_the_task_and_read_document_is_loaded(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gaia"
    folder.mkdir()
    (folder / "notes.txt").write_text("The answer is 42.", encoding="utf-8")
    meta = {"task_id": "g1", "Question": "What is the answer?", "Final answer": "42",
            "Level": "1", "file_name": "notes.txt"}  # fmt: skip
    (folder / "metadata.jsonl").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    tasks = load_dataset(folder).tasks
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    await run_eval(tasks, config(out, "none", epochs=1), **{**offline(bank), "tools": []})
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
        state = saver.get({"configurable": {"thread_id": "eval:none:e1:g1"}})
    assert state is not None
    values = state["channel_values"]
    assert f"Attached file: {(folder / 'notes.txt').resolve()}" in values["task"]
    calls = [c["name"] for r in values["subtask_results"] for c in r["tool_calls"]]
    assert calls and set(calls) == {"read_document"}


def test_report_matches_results(tmp_path: Path, tasks: list[Task]) -> None:
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    for memory in ("none", "similarity"):
        run_eval_sync(tasks, config(out, memory), **offline(bank))
    files = build_report([out], tmp_path / "report")
    assert files.markdown.is_file() and all(p.is_file() for p in files.plots)
    text = files.markdown.read_text(encoding="utf-8")
    rows = read_results(out)
    for memory in ("none", "similarity"):
        for epoch in (1, 2):
            mine = [r for r in rows if r.memory == memory and r.epoch == epoch]
            em = f"{100 * sum(r.em for r in mine) / len(mine):.1f}"
            pm = f"{100 * sum(r.pm for r in mine) / len(mine):.1f}"
            line = next(
                ln for ln in text.splitlines() if ln.startswith(f"| run | {memory} | {epoch} | 6 |")
            )
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert cells[4] == em and cells[6] == pm
    groups = summarize(rows)
    assert {(g.memory, g.epoch, g.source) for g in groups} >= {("similarity", 2, "trivia")}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MEMENTO_LLM", "MEMENTO_PLANNER_MODEL",
                "MEMENTO_EXECUTOR_MODEL", "MEMENTO_JUDGE_MODEL", "MEMENTO_CHROMA_URL"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MEMENTO_HOME", str(tmp_path / "home"))
    # The CLI opens its own bank per mode; keep the test off the MiniLM model for speed.
    monkeypatch.setattr("memento.memory.case_bank.default_embeddings", HashEmbeddings)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_end_to_end_offline_and_resume(clean_env: None, dataset: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["eval", str(dataset), "--memory", "similarity", "--epochs", "2", "--llm", "offline",
            "--tools", "calculator", "--reward", "pm", "--out", str(out), "--json"]  # fmt: skip
    first = runner.invoke(app, [*args, "--limit", "4"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output.strip().splitlines()[-1])
    assert summary["ran"] == 8 and [e["n"] for e in summary["epochs"]] == [4, 4]
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output.strip().splitlines()[-1])
    assert summary["ran"] == 4 and summary["skipped"] == 8
    counts = keys(out)
    assert len(counts) == 12 and set(counts.values()) == {1}
    assert (out / "store" / "similarity" / "chroma").is_dir()
    assert json.loads((out / "run.json").read_text())["model"] == "offline"
    epoch2 = [r for r in read_results(out) if r.epoch == 2]
    assert all(r.case_ids for r in epoch2)
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert (out / "report" / "report.md").is_file()
    table = runner.invoke(app, args[:-1])  # the human table when all is done
    assert table.exit_code == 0 and "already done 12" in table.output


def test_cli_without_model_exits_2(clean_env: None, dataset: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", str(dataset), "--memory", "none", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "--llm offline" in result.output
    assert not (tmp_path / "x").exists()


def test_cli_bad_dataset_names_file_and_line(clean_env: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "ground_truth": ["a"]}\nnot json\n', encoding="utf-8")
    args = ["eval", str(bad), "--memory", "none", "--llm", "offline", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and f"{bad}:2" in result.output
    skipped = CliRunner().invoke(app, [*args, "--skip-bad", "--tools", "calculator", "--json"])
    assert skipped.exit_code == 0, skipped.output
    assert f"{bad}:2" in skipped.output
    assert len(read_results(tmp_path / "o")) == 1


async def test_q_mode_with_the_real_learner(tmp_path: Path, tasks: list[Task]) -> None:
    from memento.memory.q.learner import QLearner
    from memento.memory.q.network import QConfig

    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    # Sized to the test embedding (64); the default QConfig is MiniLM's 384.
    learner = QLearner.open(bank, out / "store" / "q" / "q", config=QConfig(dim=64))
    summary = await run_eval(tasks, config(out, "q"), **offline(bank, learner))
    assert summary.n == 12 and all(e.errors == 0 for e in summary.epochs)
    rows = read_results(out)
    assert all(r.case_ids for r in rows if r.epoch == 2)
    assert all(c.startswith("run:eval-q:") for r in rows for c in r.case_ids)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _row(task_id: str, em: float) -> ResultRow:
    return ResultRow(task_id=task_id, epoch=1, memory="none", data_source="s", em=em, f1=em,
                     pm=em, reward=em, seconds=0.1)  # fmt: skip


def test_progress_bar_shows_running_accuracy_on_a_terminal_only() -> None:
    tty = Tty()
    with RunProgress(label="similarity", epochs=2, stream=tty) as bar:
        bar.start_epoch(1, total=2)
        bar.advance(_row("a", 1.0))
        bar.advance(_row("b", 0.0))
    assert "acc 50.0" in tty.getvalue() and "epoch 1/2" in tty.getvalue()
    piped = io.StringIO()
    with RunProgress(label="similarity", epochs=1, stream=piped) as bar:
        bar.start_epoch(1, total=1)
        bar.advance(_row("a", 1.0))
    assert piped.getvalue() == "" and bar.score.n == 1


async def test_accuracy_judge_fills_the_judge_column(tmp_path: Path, tasks: list[Task]) -> None:
    bank = make_bank(tmp_path / "chroma")
    out = tmp_path / "run"
    summary = await run_eval(
        tasks, config(out, "none", epochs=1), **{**offline(bank), "judge": "offline"}
    )
    rows = read_results(out)
    assert all(r.judge_correct is not None and r.judge_model == "offline" for r in rows)
    # The stand-in judge says correct when the answer holds an accepted answer's words.
    for row in rows:
        assert row.judge_correct == all(
            w in row.prediction.lower() for w in row.ground_truth[0].lower().split()
        )
    judged = sum(1 for r in rows if r.judge_correct) / len(rows)
    assert summary.epochs[0].accuracy == pytest.approx(judged)
    assert all(g.judged == g.n for g in summary.groups)


def test_read_document_may_read_attachments_outside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memento.eval.run_config import eval_tools

    folder = tmp_path / "gaia"
    folder.mkdir()
    (folder / "notes.txt").write_text("The answer is 42.", encoding="utf-8")
    meta = {"task_id": "g1", "Question": "Q?", "Final answer": "42", "Level": "1",
            "file_name": "notes.txt"}  # fmt: skip
    (folder / "metadata.jsonl").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    tools = eval_tools(None, Context(tools="calculator"), load_dataset(folder).tasks)
    reader = next(t for t in tools if t.name == "read_document")
    assert "42" in reader.invoke({"path": str(folder / "notes.txt")})
