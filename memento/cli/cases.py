"""`memento cases ...`: import, export, inspect and search the Case Bank.

The bank is the one MEMENTO_HOME / MEMENTO_CHROMA_URL point at; `--home` and `--chroma-url`
override them. Heavy modules (chromadb, the embedding model) load inside the commands.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from memento.memory.case_bank import CaseBank

app = typer.Typer(help="Import, export, inspect and search the Case Bank.", no_args_is_help=True)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="Store folder (default MEMENTO_HOME, else ./.memento)."),
]
ChromaUrl = Annotated[
    str | None,
    typer.Option("--chroma-url", help="Chroma server URL (default MEMENTO_CHROMA_URL)."),
]
Namespace = Annotated[str | None, typer.Option("--namespace", "-n", help="Only this namespace.")]
LabelOpt = Annotated[
    str | None, typer.Option("--label", help="Only 'positive' or 'negative' cases.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _label(value: str | None) -> Literal["positive", "negative"] | None:
    if value is None:
        return None
    if value not in ("positive", "negative"):
        raise _fail(f"--label must be 'positive' or 'negative', got {value!r}", 2)
    return "positive" if value == "positive" else "negative"


def _open_bank(home: Path | None, chroma_url: str | None) -> CaseBank:
    """The bank the settings point at, with command-line overrides; clean errors on failure."""
    from memento.memory.case_bank import CaseBank
    from memento.settings import load_settings

    if not sys.stderr.isatty():  # keep model-loading progress bars off piped output
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    overrides: dict[str, Any] = {}
    if chroma_url:
        overrides["url"] = chroma_url
    elif home is not None:
        overrides["path"] = home / "chroma"
    try:
        return CaseBank.from_settings(load_settings(), **overrides)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    except Exception as exc:  # a server that cannot be reached, a broken store folder
        raise _fail(f"cannot open the case bank: {exc}") from None


@app.command("import")
def import_cases(
    path: Annotated[Path, typer.Argument(help="A memory.jsonl (upstream) or Memento JSONL file.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="upstream, memento or auto (from the first line).")
    ] = "auto",
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace for the imported cases.")
    ] = None,
    dedup: Annotated[
        bool, typer.Option("--dedup/--no-dedup", help="Fold near-duplicates into existing cases.")
    ] = False,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """Import a whole case file: validated first, then stored all or nothing."""
    from memento.infra.progress import progress_bar
    from memento.memory.formats import FormatError, read_cases

    if format not in ("auto", "upstream", "memento"):
        raise _fail(f"--format must be upstream, memento or auto, got {format!r}", 2)
    try:
        cases = read_cases(path, format=format, namespace=namespace)  # type: ignore[arg-type]
    except FormatError as exc:
        raise _fail(f"{exc}; nothing was imported", 2) from None
    bank = _open_bank(home, chroma_url)
    try:
        with progress_bar() as progress:
            report = bank.add_cases_report(cases, dedup=dedup, progress=progress)
    except Exception as exc:
        raise _fail(f"import failed, nothing was imported: {exc}") from None
    summary = {
        "read": len(cases),
        "added": report.added,
        "merged": report.merged,
        "already_present": report.existing,
        "count": bank.count(),
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"imported {path}: {report.added} added, {report.merged} merged into near-duplicates, "
            f"{report.existing} already present; the bank holds {summary['count']} cases"
        )


@app.command("export")
def export_cases(
    path: Annotated[Path, typer.Argument(help="Output JSONL file (replaced atomically).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="memento (every field) or upstream.")
    ] = "memento",
    namespace: Namespace = None,
    label: LabelOpt = None,
    home: Home = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Export cases, oldest first."""
    from memento.memory.formats import write_cases

    if format not in ("upstream", "memento"):
        raise _fail(f"--format must be upstream or memento, got {format!r}", 2)
    bank = _open_bank(home, chroma_url)
    cases = bank.list(namespace=namespace, label=_label(label))
    written = write_cases(path, cases, format=format)  # type: ignore[arg-type]
    typer.echo(f"exported {written} cases to {path}", err=True)


@app.command("fill-labelled")
def fill_labelled_cases(
    namespace: Namespace = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Read every case again, not only the unread.")
    ] = False,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """Read each case with its label now (Q's label case side), so no selection waits for it.

    A network-form Q reads "[CASE] task [LABEL] label"; a case not read yet is embedded at its
    first selection. Run this after importing a bank that a network form will select from.
    """
    from memento.infra.progress import progress_bar
    from memento.memory.labelled import fill_labelled

    bank = _open_bank(home, chroma_url)
    with progress_bar() as progress:
        read = fill_labelled(bank, namespace=namespace, refresh=refresh, progress=progress)
    if as_json:
        typer.echo(json.dumps({"read": read, "count": bank.count(namespace)}))
    else:
        typer.echo(f"read {read} cases with their labels of {bank.count(namespace)}")


@app.command("stats")
def stats(home: Home = None, chroma_url: ChromaUrl = None, as_json: AsJson = False) -> None:
    """Counts by label and namespace, and the embedding model of the bank."""
    summary = _open_bank(home, chroma_url).stats()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(
        f"{summary['count']} cases ({summary['positive']} positive, "
        f"{summary['negative']} negative), embedding model {summary['embedding_model']}"
    )
    for name, count in summary["namespaces"].items():
        typer.echo(f"  {name}: {count}")


@app.command("search")
def search(
    text: Annotated[str, typer.Argument(help="The task to find similar cases for.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many cases.")] = 4,
    namespace: Namespace = None,
    label: LabelOpt = None,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """The top K cases by cosine similarity, with scores."""
    found = _open_bank(home, chroma_url).search(text, k, namespace=namespace, label=_label(label))
    if as_json:
        rows = [{"score": s.score, **s.case.model_dump(mode="json")} for s in found]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for s in found:
        typer.echo(f"{s.score:.3f}  {s.case.label:8}  {s.case.id}  {s.case.task}")


@app.command("list")
def list_cases(
    limit: Annotated[int, typer.Option("--limit", min=1, help="Cases per page.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Cases to skip.")] = 0,
    namespace: Namespace = None,
    label: LabelOpt = None,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """Page through cases, oldest first, in a table."""
    bank = _open_bank(home, chroma_url)
    total = bank.count() if namespace is None and label is None else None
    page = bank.list(namespace=namespace, label=_label(label), limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json") for c in page], ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    shown = f"{offset + 1}-{offset + len(page)}" if page else "none"
    table = Table(title=f"cases {shown}" + (f" of {total}" if total is not None else ""))
    for column in ("id", "namespace", "label", "reward", "used/helped", "created"):
        table.add_column(column, no_wrap=True, max_width=34)
    table.add_column("task", overflow="fold", min_width=24)
    for c in page:
        table.add_row(
            c.id,
            c.namespace,
            c.label,
            f"{c.reward:.2f}",
            f"{c.times_retrieved}/{c.times_helpful}",
            c.created_at[:10],
            c.task,
        )
    Console().print(table)
    if len(page) == limit:
        typer.echo(f"next page: --offset {offset + limit}")


@app.command("delete")
def delete(
    ids: Annotated[list[str] | None, typer.Argument(help="Ids of the cases to delete.")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="With --all: this namespace.")
    ] = None,
    all_cases: Annotated[
        bool, typer.Option("--all", help="Delete every case of --namespace.")
    ] = False,
    home: Home = None,
    chroma_url: ChromaUrl = None,
) -> None:
    """Delete cases by id, or every case of one namespace."""
    if all_cases and namespace is None:
        raise _fail("--all needs --namespace (delete one namespace at a time)", 2)
    if not ids and not all_cases:
        raise _fail("give case ids, or --namespace NS --all", 2)
    bank = _open_bank(home, chroma_url)
    targets = list(ids or [])
    if all_cases:
        targets += [c.id for c in bank.list(namespace=namespace)]
    typer.echo(f"deleted {bank.delete(targets)} cases")
