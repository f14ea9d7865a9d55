"""Root of the `memento` command line: one Typer sub-app per concern, imported lazily."""

from __future__ import annotations

import typer

from memento import __version__

app = typer.Typer(
    name="memento",
    help="Memento: an LLM agent that learns from a case bank while its LLM stays frozen.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"memento {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Memento: an LLM agent that learns from a case bank while its LLM stays frozen."""


def _register() -> None:
    """Attach the sub-apps; each lives in its own module under memento.cli."""
    from memento.cli import cases, run

    app.add_typer(cases.app, name="cases")
    from memento.cli import cases_inspect

    cases.app.command("show")(cases_inspect.show)
    cases.app.command("top")(cases_inspect.top)
    app.command("run")(run.run)
    app.command("feedback")(run.feedback)
    app.command("graph")(run.graph)
    from memento.cli import report, score

    app.command(name="score")(score.score)
    app.command(name="report")(report.report)
    from memento.cli import corpus, tools

    app.add_typer(tools.app, name="tools")
    app.add_typer(corpus.app, name="corpus")
    from memento.cli import demo

    app.command("demo")(demo.demo)
    from memento.cli import eval as eval_cli

    app.command("eval")(eval_cli.eval_command)
    from memento.cli import q as q_cli

    app.add_typer(q_cli.app, name="q")
    from memento.cli import q_serve

    q_cli.app.command("serve-trainer")(q_serve.serve_trainer)
    from memento.cli import memory as memory_cli

    app.add_typer(memory_cli.app, name="memory")


_register()


def main() -> None:
    """The `memento` command: the Typer app, with a bad environment reported in one line."""
    from memento.settings import SettingsError

    try:
        app()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
