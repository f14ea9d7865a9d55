"""`memento q ...`: train the Q-function offline on logged pairs, evaluate it, show its checkpoint.

`train` fits a fresh network on the training side of a by-query split of a pairs file
(upstream training_data.jsonl), by default together with a tuned MiniLM reader of tasks
(`memento.memory.q.tune`), prints held-out metrics and saves the checkpoint that the `q`
selection policy loads (default `<MEMENTO_HOME>/q/`). `eval` scores that checkpoint on the
held-out side of the same split rule. Text embeddings are cached in `<dir>/embed_cache.npz`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from memento.memory.q.offline import CachedEmbedder
    from memento.memory.q.pairs import Pair

app = typer.Typer(help="Train and evaluate the Q-function (parametric case selection).")

PairsPath = Annotated[
    Path, typer.Option("--pairs", help="Logged pairs, e.g. upstream training_data.jsonl.")
]
Format = Annotated[str, typer.Option("--format", help="Pairs format: upstream.")]
Holdout = Annotated[float, typer.Option("--holdout", help="Share of QUERIES held out.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the split, init and shuffling.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CheckpointDir = Annotated[
    Path | None,
    typer.Option("--checkpoint-dir", help="Checkpoint folder (default <MEMENTO_HOME>/q)."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _folder(checkpoint_dir: Path | None) -> Path:
    from memento.settings import get_settings

    return checkpoint_dir if checkpoint_dir is not None else Path(get_settings().home) / "q"


def _load(pairs: Path, fmt: str) -> list[Pair]:
    from memento.memory.q.pairs import PairsFormatError, load_pairs

    try:
        return load_pairs(pairs, fmt=fmt)
    except FileNotFoundError:
        raise _fail(f"no such file: {pairs}", 2) from None
    except PairsFormatError as exc:
        raise _fail(str(exc), 2) from None


def _embedder(folder: Path) -> tuple[CachedEmbedder, str, str | None]:
    import numpy as np

    from memento.memory.embeddings import default_embeddings, embedding_model_id
    from memento.memory.q.checkpoint import embedding_model_hash
    from memento.memory.q.offline import CachedEmbedder

    model = default_embeddings()

    def embed(texts: Any) -> np.ndarray:
        return np.asarray(model.embed_documents(list(texts)), dtype=np.float32)

    name = embedding_model_id(model)
    return (
        CachedEmbedder(embed, folder / "embed_cache.npz", name),
        name,
        embedding_model_hash(model),
    )


def _print(report: dict[str, Any], as_json: bool) -> None:
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in report.items()}
    if as_json:
        typer.echo(json.dumps(clean, sort_keys=True))
        return
    for key in sorted(clean):
        typer.echo(f"{key}: {clean[key]}")


@app.command("train")
def train(
    pairs: PairsPath,
    fmt: Format = "upstream",
    holdout: Holdout = 0.2,
    seed: Seed = 0,
    as_json: AsJson = False,
    checkpoint_dir: CheckpointDir = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs.")] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", help="Tower/head width.")] = None,
    tune_encoder: Annotated[
        bool,
        typer.Option(
            "--tune-encoder/--frozen-encoder",
            help="Train MiniLM (layers, embeddings) as Q's reader of tasks (cases keep their "
            "cached vectors), or train the network over frozen vectors only (seconds; shareable).",
        ),
    ] = True,
    case_side: Annotated[
        str | None,
        typer.Option(
            "--case-side",
            help="What Q reads for a case: 'label' (its task and label as text, embedded once "
            "and cached by the bank; the default) or 'task' (the task's own vector; for logs "
            "without case_label).",
        ),
    ] = None,
    members: Annotated[
        int | None,
        typer.Option(
            "--members",
            min=1,
            help="Tuned runs averaged weight by weight into the stored encoder and network "
            "(default 1; N costs N times the training, not the selection).",
        ),
    ] = None,
) -> None:
    """Train on the training side of a by-query split, report held-out metrics, save."""
    from memento.infra.progress import progress_bar
    from memento.memory.q.checkpoint import save_checkpoint
    from memento.memory.q.network import QConfig
    from memento.memory.q.offline import train_on_pairs

    if not 0.0 <= holdout < 1.0:
        raise _fail(f"--holdout must be in [0, 1), got {holdout}", 2)
    rows = _load(pairs, fmt)
    folder = _folder(checkpoint_dir)
    embed, model, model_hash = _embedder(folder)
    overrides: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        overrides["epochs"] = epochs
    if hidden is not None:
        overrides["hidden"] = hidden
    if members is not None:
        overrides["encoder_members"] = members
    if case_side is not None:
        overrides["case_side"] = case_side
    try:
        config = QConfig.from_dict({**QConfig().to_dict(), **overrides})
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    try:
        with progress_bar() as progress:
            network, report = train_on_pairs(
                rows,
                embed,
                holdout=holdout,
                seed=seed,
                config=config,
                tune_encoder=tune_encoder,
                progress=progress,
            )
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    extra = {k: report[k] for k in ("auc", "accuracy", "holdout", "seed", "n_train_rows")}
    extra["pairs"] = str(pairs)
    meta = save_checkpoint(
        folder,
        network,
        embedding_model=model,
        fingerprint=model_hash,
        step=int(report["steps"]),
        extra=extra,
    )
    report.update({"checkpoint": str(folder), "version": meta.version})
    _print(report, as_json)


@app.command("eval")
def evaluate(
    pairs: PairsPath,
    fmt: Format = "upstream",
    holdout: Holdout = 0.2,
    seed: Seed = 0,
    as_json: AsJson = False,
    checkpoint_dir: CheckpointDir = None,
) -> None:
    """Score the saved checkpoint on the held-out side of the same by-query split."""
    from memento.memory.q.checkpoint import CheckpointError, load_checkpoint
    from memento.memory.q.offline import evaluate_on_pairs

    if not 0.0 < holdout < 1.0:
        raise _fail(f"--holdout must be in (0, 1), got {holdout}", 2)
    rows = _load(pairs, fmt)
    folder = _folder(checkpoint_dir)
    embed, model, model_hash = _embedder(folder)
    try:
        ckpt = load_checkpoint(folder, embedding_model=model, fingerprint=model_hash)
    except CheckpointError as exc:
        raise _fail(str(exc)) from None
    report = evaluate_on_pairs(ckpt.network, rows, embed, holdout=holdout, seed=seed)
    trained = ckpt.meta.extra
    if trained.get("pairs") and (trained.get("seed"), trained.get("holdout")) != (seed, holdout):
        report["warning"] = "checkpoint was trained with another seed/holdout: test rows may leak"
    report.update({"checkpoint": str(folder), "version": ckpt.meta.version})
    _print(report, as_json)


@app.command("info")
def info(checkpoint_dir: CheckpointDir = None, as_json: AsJson = False) -> None:
    """Show the checkpoint's sidecar (version, step, embedding model, config, training facts)."""
    from memento.memory.q.checkpoint import SIDECAR_FILE

    path = _folder(checkpoint_dir) / SIDECAR_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"no readable Q checkpoint sidecar at {path}: {exc}") from None
    _print(meta, as_json)
