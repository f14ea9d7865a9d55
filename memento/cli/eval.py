"""`memento eval DATASET --memory MODE --out DIR`: run a benchmark through the agent, resumably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

if TYPE_CHECKING:
    from memento.eval.datasets import DatasetFormat
    from memento.eval.run_config import MemoryMode
    from memento.graphs.context import RewardMetric
    from memento.scoring.metrics import MetricFamily

FORMATS = ("auto", "deepresearcher", "gaia", "jsonl")
MODES = ("none", "similarity", "q")
REWARDS = ("em", "f1", "pm", "llm")
LLM_HELP = "Model spec for every role: 'offline', 'provider:model' or an OpenAI-compatible name."


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(summary.model_dump_json(exclude={"groups"}))
        return
    from rich.console import Console

    from memento.eval.console import summary_table

    title = f"memento eval · memory {summary.memory} · metric {summary.metric} (%)"
    Console().print(summary_table(summary.groups, title=title))
    tokens = "–"
    if summary.input_tokens is not None or summary.output_tokens is not None:
        tokens = f"{summary.input_tokens or 0:,} in / {summary.output_tokens or 0:,} out"
    cost = f"${summary.cost:.4f}" if summary.cost is not None else "–"
    typer.echo(
        f"ran {summary.ran}, already done {summary.skipped}; wall {summary.seconds:.1f}s; "
        f"tokens {tokens}; cost {cost}; rows in {summary.results}"
    )
    errors = sum(e.errors for e in summary.epochs)
    if errors:
        typer.echo(
            f"errors: {errors} task(s) without an outcome (a model call failed; see the rows' "
            "error); run the same command again to retry them"
        )
    overall = [g for g in summary.groups if g.source == "all"]
    unmetered = sum(g.unmetered_calls for g in overall)
    unpriced = sorted({m for g in overall for m in g.unpriced_models})
    if unmetered:
        typer.echo(f"note: {unmetered} model call(s) reported no usage; tokens are undercounted")
    if unpriced:
        typer.echo(f"note: no price for {', '.join(unpriced)}; cost left blank")


def _server_checkpointer() -> str | None:
    """MEMENTO_CHECKPOINTER when it names Postgres; else the run folder's SQLite file is used."""
    from memento.infra.dsn import is_dsn
    from memento.settings import get_settings

    spec = get_settings().checkpointer
    return spec if spec and is_dsn(spec) else None


def eval_command(
    dataset: Annotated[Path, typer.Argument(help="DeepResearcher/generic JSONL or GAIA folder.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder (results.jsonl, checkpoints).")],
    memory: Annotated[str, typer.Option("--memory", help="none, similarity or q.")] = "similarity",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the tasks.")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most N tasks.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sample tasks at random with this seed.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Tasks at once (per worker).")
    ] = 1,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes; above 1 needs MEMENTO_CHROMA_URL and a postgres:// "
            "MEMENTO_CHECKPOINTER (in mode q the Q-function is shared through Postgres).",
        ),
    ] = 1,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Keep this data source (repeatable).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, deepresearcher, gaia, jsonl.")
    ] = "auto",
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip malformed rows (counted) instead of failing.")
    ] = False,
    llm: Annotated[str | None, typer.Option("--llm", help=LLM_HELP)] = None,
    judge_llm: Annotated[
        str | None,
        typer.Option(
            "--judge-llm", help="LLM judge spec: accuracy column, and the reward with --reward llm."
        ),
    ] = None,
    reward: Annotated[str, typer.Option("--reward", help="Reward: em, f1, pm or llm.")] = "em",
    k: Annotated[int | None, typer.Option("-k", "--k", help="Cases shown to the planner.")] = None,
    tools: Annotated[str | None, typer.Option("--tools", help="Comma-separated tools.")] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Scoring family: deepresearcher or squad.")
    ] = "deepresearcher",
    prices: Annotated[
        Path | None, typer.Option("--prices", help="JSON of USD per million tokens per model.")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune-checkpoints", help="Delete each task's checkpoints once its row is written."
        ),
    ] = False,
    model_timeout: Annotated[
        float | None,
        typer.Option(
            "--model-timeout",
            min=0.001,
            help="Seconds one model call may take, retries included (default "
            "MEMENTO_MODEL_TIMEOUT_S, else 300); a call past it fails the task's attempt.",
        ),
    ] = None,
    tool_timeout: Annotated[
        float | None,
        typer.Option(
            "--tool-timeout",
            min=0.001,
            help="Seconds one round of tool calls may take (default MEMENTO_TOOL_TIMEOUT_S).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run every task through the agent for each epoch; resumable, one row per finished task."""
    from memento.eval.datasets import DatasetError, load_dataset
    from memento.eval.results import RunManifest, write_manifest
    from memento.eval.run_config import EvalConfig
    from memento.eval.runner import run_eval_sync
    from memento.eval.usage import load_prices
    from memento.graphs.context import Context
    from memento.graphs.models import ModelNotConfiguredError, check_spec, resolve_spec
    from memento.scoring.metrics import METRIC_FAMILIES

    _check_choice("--memory", memory, MODES)
    _check_choice("--format", fmt, FORMATS)
    _check_choice("--reward", reward, REWARDS)
    _check_choice("--metric", metric, METRIC_FAMILIES)
    base = Context()
    ctx = Context(
        llm=llm or base.llm,
        judge_model=judge_llm or base.judge_model,
        k=k if k is not None else base.k,
        tools=tools or base.tools,
        reward_metric=cast("RewardMetric", reward),
        model_timeout_s=model_timeout if model_timeout is not None else base.model_timeout_s,
        tool_timeout_s=tool_timeout if tool_timeout is not None else base.tool_timeout_s,
    )
    try:
        model = resolve_spec("planner", ctx.planner_model, ctx.llm)
        resolve_spec("executor", ctx.executor_model, ctx.llm)
        if reward == "llm":
            resolve_spec("judge", ctx.judge_model, ctx.llm)
        elif ctx.judge_model:
            check_spec(ctx.judge_model)
    except ModelNotConfiguredError as exc:
        raise _fail(str(exc)) from exc
    try:
        price_table = load_prices(prices) if prices is not None else None
        data = load_dataset(
            dataset,
            fmt=cast("DatasetFormat", fmt),
            sources=source,
            limit=limit,
            seed=seed,
            skip_bad=skip_bad,
        )
    except (DatasetError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    for bad in data.skipped:
        typer.echo(f"skipped {bad.path}:{bad.line}: {bad.reason}", err=True)
    if not data.tasks:
        raise _fail(f"{dataset}: no tasks selected")
    manifest = RunManifest(
        dataset=str(dataset), memory=memory, epochs=epochs, limit=limit, seed=seed, model=model,
        metric=metric, tasks=len(data.tasks), skipped_rows=len(data.skipped),
    )  # fmt: skip
    write_manifest(out, manifest)
    config = EvalConfig(
        memory=cast("MemoryMode", memory), epochs=epochs, seed=seed or 0,
        concurrency=concurrency, out=out, context=ctx, metric=cast("MetricFamily", metric),
        prices=price_table, prune_checkpoints=prune, workers=workers,
        checkpointer=_server_checkpointer(),
    )  # fmt: skip
    try:
        summary = run_eval_sync(data.tasks, config, progress=not as_json)
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted; finished tasks are in {out / 'results.jsonl'}; "
            "run the same command again to resume",
            err=True,
        )
        raise typer.Exit(130) from None
    except (ModelNotConfiguredError, RuntimeError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    _print_summary(summary, as_json)
    if as_json:
        return
    if model.lower() == "offline":
        typer.echo("note: the offline stand-in model answered; its accuracy means nothing.")
