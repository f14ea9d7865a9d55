"""`memento demo`: the continual-learning protocol in a SIMULATED world, offline, in minutes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _priors(values: list[str]) -> dict[str, float]:
    from memento.sim.config import DEFAULT_PRIOR

    priors = dict(DEFAULT_PRIOR)
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            priors[name.strip()] = float(raw)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"--prior {item!r}: expected FAMILY=PROBABILITY")
    return priors


def demo(
    seed: Annotated[int, typer.Option(help="Seed of the world and every simulated decision.")] = 7,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs (memory carries over).")] = 3,
    questions: Annotated[
        str,
        typer.Option(help="repeat: the same questions every epoch; fresh: new ones each epoch."),
    ] = "repeat",
    tasks_per_family: Annotated[int, typer.Option(min=1, help="Tasks per family.")] = 5,
    families: Annotated[
        str, typer.Option(help="Comma-separated base families (default: all five).")
    ] = "",
    distractors: Annotated[
        bool, typer.Option(help="Add each family's surface-similar twin family.")
    ] = True,
    follow_p: Annotated[
        float, typer.Option(min=0, max=1, help="P(planner adapts a same-looking positive case).")
    ] = 0.9,
    confusion_p: Annotated[
        float, typer.Option(min=0, max=1, help="P(planner takes a twin-family case for its own).")
    ] = 0.85,
    noise: Annotated[float, typer.Option(min=0, max=1, help="P(executor misreads a fact).")] = 0.03,
    prior: Annotated[
        list[str] | None,
        typer.Option(help="FAMILY=P: prior accuracy of the planner's unaided guess (repeatable)."),
    ] = None,
    k: Annotated[int, typer.Option(min=1, help="Cases shown to the planner.")] = 4,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Tasks run at once (1: identical runs for a seed).")
    ] = 1,
    q_shortlist: Annotated[
        int, typer.Option(min=0, help="Similar cases re-ranked by Q (0: all cases).")
    ] = 16,
    q_form: Annotated[
        str,
        typer.Option(help="Q form: kernel (episodic, the default), residual or mlp (networks)."),
    ] = "kernel",
    q_steps: Annotated[int, typer.Option(min=0, help="Q update steps per finished task.")] = 4,
    q_lr: Annotated[float, typer.Option(min=1e-6, help="Q learning rate.")] = 1e-3,
    q_unused_weight: Annotated[
        float, typer.Option(min=0, max=1, help="Q loss weight of shown cases left unused.")
    ] = 0.0,
    q_temperature: Annotated[
        float, typer.Option(min=0, help="0: greedy Q policy; >0: sample from softmax(Q/T).")
    ] = 0.0,
    q_retrain_epochs: Annotated[
        int, typer.Option(min=0, help="Full Q retrain passes between epochs (0: online only).")
    ] = 0,
    modes: Annotated[str, typer.Option(help="Memory modes to run.")] = "none,similarity,q",
    folder: Annotated[
        Path | None, typer.Option(help="New or empty folder for the run (default: a temp one).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the numbers.")
    ] = False,
) -> None:
    """Run memory modes none, similarity and q over several epochs in a SIMULATED world.

    The planner and executor are scripted stand-ins (memento.sim), not language models: the
    numbers show how case memory and Q-learning behave under the simulation's stated
    assumptions, not how any real model performs.
    """
    import asyncio
    import warnings

    from memento.sim.config import SimConfig
    from memento.sim.demo import MODES, SIMULATED_NOTICE, format_table, run_demo

    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    if not chosen or any(m not in MODES for m in chosen):
        raise typer.BadParameter(f"--modes {modes!r}: choose among {', '.join(MODES)}")
    try:
        base = SimConfig()
        if families:
            base = base.with_(families=tuple(f.strip() for f in families.split(",") if f.strip()))
        config = base.with_(
            seed=seed,
            epochs=epochs,
            questions=questions,
            tasks_per_family=tasks_per_family,
            distractors=distractors,
            follow_p=follow_p,
            confusion_p=confusion_p,
            noise=noise,
            prior_accuracy=_priors(prior or []),
            k=k,
            concurrency=concurrency,
            q_shortlist=q_shortlist,
            q_form=q_form,
            q_steps_per_record=q_steps,
            q_lr=q_lr,
            q_unused_weight=q_unused_weight,
            q_temperature=q_temperature,
            q_retrain_epochs=q_retrain_epochs,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not as_json:
        typer.echo(SIMULATED_NOTICE + "\n", err=True)
    try:
        result = asyncio.run(run_demo(config, folder, modes=chosen))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    asked = "new questions" if questions == "fresh" else "the same questions"
    typer.echo(
        f"\nAccuracy per epoch (%), {result.tasks} tasks per epoch ({asked} each epoch), "
        f"seed {seed}, SIMULATED:"
    )
    typer.echo(format_table(result))
    for path in result.plot:
        typer.echo(f"learning curve: {path}")
    typer.echo(f"run folder: {result.folder}")
    typer.echo(
        "\nSIMULATED models: these numbers describe the memory machinery under the simulation's "
        "assumptions (see `memento demo --help`), not a real LLM."
    )
