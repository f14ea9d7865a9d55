"""`memento corpus ...`: index local documents for the offline search tool, and search them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Index and search the local document corpus.", no_args_is_help=True)


def _config(config: Path | None, store: Path | None, collection: str | None) -> Any:
    from memento.cli.tools import load_config

    cfg = load_config(config).corpus
    updates: dict[str, Any] = {}
    if store is not None:
        updates["path"] = store
        updates["url"] = None
    if collection is not None:
        updates["collection"] = collection
    return cfg.model_copy(update=updates)


@app.command("index")
def index(
    paths: Annotated[list[Path], typer.Argument(help="Folders or files (.txt .md .html .pdf).")],
    prune: Annotated[
        bool, typer.Option(help="Remove indexed files that left these folders.")
    ] = True,
    store: Annotated[
        Path | None, typer.Option("--store", help="Chroma folder of the corpus.")
    ] = None,
    collection: Annotated[str | None, typer.Option("--collection", help="Collection name.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="JSON ToolsConfig file.")] = None,
) -> None:
    """Index documents (incrementally: unchanged files are skipped)."""
    from memento.tools.corpus_index import CorpusIndexer

    cfg = _config(config, store, collection)
    report = CorpusIndexer(cfg).index(paths, prune=prune)
    typer.echo(
        f"indexed {report.indexed} files ({report.chunks} chunks), unchanged {report.unchanged}, "
        f"removed {report.removed}, in {report.seconds:.1f} s"
    )
    for where, why in report.errors:
        typer.echo(f"error: {where}: {why}", err=True)
    if report.errors:
        raise typer.Exit(1)


@app.command("search")
def search(
    text: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many chunks.")] = 5,
    mode: Annotated[
        str, typer.Option("--mode", help="hybrid, vector or bm25 (configured default).")
    ] = "",
    store: Annotated[
        Path | None, typer.Option("--store", help="Chroma folder of the corpus.")
    ] = None,
    collection: Annotated[str | None, typer.Option("--collection", help="Collection name.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="JSON ToolsConfig file.")] = None,
) -> None:
    """Print the best chunks for TEXT with their source and offsets."""
    from memento.tools.corpus_search import CorpusSearcher, format_hits

    if mode not in ("", "hybrid", "vector", "bm25"):
        typer.echo(f"error: --mode must be hybrid, vector or bm25, got {mode!r}", err=True)
        raise typer.Exit(2)
    cfg = _config(config, store, collection)
    hits = CorpusSearcher(cfg).search(text, k, mode or None)  # type: ignore[arg-type]
    typer.echo(format_hits(hits, 1_000_000) if hits else "no results")
