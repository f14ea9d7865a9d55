"""`memento q serve-trainer`: the one process that trains a shared Q-function and publishes it.

Workers (any process with MEMENTO_Q_SHARE set, e.g. `memento run` or a LangGraph server) log
their transitions to the share; this command learns from all of them and publishes versioned
weights that the workers load between tasks. It holds the channel's trainer lock, so a second
trainer on the same share and namespace exits with an error instead of forking the weights.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer


def serve_trainer(
    share: Annotated[
        str | None,
        typer.Option("--share", help="postgres:// DSN or shared folder (default MEMENTO_Q_SHARE)."),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Channel = the workers' namespace (default settings)."),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Trainer's replay folder (default <home>/q-trainer/<ns>)."),
    ] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Poll seconds.")] = 1.0,
    once: Annotated[
        bool, typer.Option("--once", help="Learn what is logged, publish, and exit.")
    ] = False,
) -> None:
    """Train the shared Q-function from every worker's transitions and publish its versions."""
    from memento.infra.dsn import describe
    from memento.memory.case_bank import CaseBank
    from memento.memory.q.share import QTrainer, TrainerBusyError, open_share
    from memento.settings import get_settings

    settings = get_settings()
    spec = share or settings.q_share
    if not spec:
        typer.echo("error: no share: pass --share or set MEMENTO_Q_SHARE", err=True)
        raise typer.Exit(2)
    channel = namespace or settings.namespace
    folder = directory or Path(settings.home) / "q-trainer" / channel
    bank = CaseBank.from_settings()
    q_share = open_share(spec, bank, channel=channel)
    trainer = QTrainer(bank, q_share, folder, namespace=channel)
    try:
        trainer.acquire()
    except TrainerBusyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    where = f"{describe(spec)} channel {channel!r}"
    try:
        if once:
            reports = trainer.drain()
            version = reports[-1].version if reports else q_share.weights.version()
            learned = sum(r.learned for r in reports)
            typer.echo(f"learned {learned} transitions; published v{version} to {where}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo(f"training from {where}; Ctrl-C to stop", err=True)
        try:
            trainer.serve(stop, interval)
        except KeyboardInterrupt:
            trainer.drain()
        version = q_share.weights.version()
        typer.echo(f"stopped at v{version} ({trainer.learned} learned)", err=True)
    finally:
        trainer.close()
