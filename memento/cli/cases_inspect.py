"""`memento cases show ID` and `memento cases top --by ...`: a look inside the Case Bank.

Counters (times shown, times helped) come from the bank; how often a case was used and the
rewards of the runs that showed it come from the Q learner's replay buffer (<home>/q), and Q
values from its checkpoint. A Q-function shared through `memento q serve-trainer` keeps its
transitions elsewhere: then only the bank's own counters are shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from memento.cli.cases import AsJson, ChromaUrl, Home, Namespace, _fail, _open_bank

Query = Annotated[
    str | None, typer.Option("--query", "-q", help="A task: show Q(task, case) for it.")
]
BY = ("q", "used", "helped", "reward")
RECENT_TASKS = 32
"""Recorded tasks that `top --by q` averages Q over when no --query is given."""


def _q_dir(home: Path | None) -> Path:
    from memento.settings import load_settings

    return (home if home is not None else Path(load_settings().home)) / "q"


def show(
    case_id: Annotated[str, typer.Argument(help="The case id (or an id merged into it).")],
    query: Query = None,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """One case: task, plan, label, reward history, times shown, used, helped, and Q for --query."""
    from memento.memory.case_stats import open_q, open_replay, usage

    bank = _open_bank(home, chroma_url)
    holder = bank.resolve(case_id)
    case = bank.get(holder) if holder else None
    if case is None:
        raise _fail(f"no case {case_id!r} in the bank")
    q_dir = _q_dir(home)
    replay = open_replay(q_dir)
    use = usage(replay.all()).get(case.id) if replay is not None else None
    info: dict[str, Any] = case.model_dump(mode="json")
    info["plan"] = [step["description"] for step in info["plan"]["plan"]]
    info.update(
        merged_from=case_id if case_id != case.id else None,
        used=use.used if use else None,
        used_unreported=use.unreported if use else None,
        reward_history=use.history if use else [],
        query=query,
        q=None,
        similarity=None,
    )
    if query:
        vector = bank.embed_query(query)
        case_vector = bank.vectors([case.id])
        info["similarity"] = float(case_vector[0] @ vector)
        reader = open_q(bank, q_dir)
        if reader is not None:
            info["q"] = float(reader.values(query, [case.id], case.namespace)[0])
            reader.close()
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    typer.echo(
        f"{case.id}  [{case.namespace}]  {case.label}  reward {case.reward:.2f} over "
        f"{case.observations} run(s)  source {case.source}  created {case.created_at}"
    )
    typer.echo(f"task: {case.task}")
    for i, step in enumerate(info["plan"], 1):
        typer.echo(f"  {i}. {step}")
    used = "unknown (no replay buffer)" if use is None else f"{use.used}"
    if use is not None and use.unreported:
        used += f" (+{use.unreported} run(s) that did not say)"
    typer.echo(f"shown {case.times_retrieved}, used {used}, helped {case.times_helpful}")
    if info["reward_history"]:
        rewards = " ".join(f"{h['reward']:.2f}" for h in info["reward_history"])
        typer.echo(f"rewards of the runs that showed it: {rewards}")
    if query:
        q = "no Q (nothing recorded in <home>/q)" if info["q"] is None else f"{info['q']:.4f}"
        typer.echo(f"for {query!r}: Q {q}, similarity {info['similarity']:.4f}")


def top(
    by: Annotated[str, typer.Option("--by", help="Rank by q, used, helped or reward.")] = "q",
    n: Annotated[int, typer.Option("--limit", "-l", min=1, help="How many cases.")] = 10,
    query: Query = None,
    namespace: Namespace = None,
    home: Home = None,
    chroma_url: ChromaUrl = None,
    as_json: AsJson = False,
) -> None:
    """The top cases by Q (for --query, else averaged over recent tasks), use, help or reward."""
    from memento.memory.case_stats import open_q, open_replay, usage

    if by not in BY:
        raise _fail(f"--by must be one of {', '.join(BY)}, got {by!r}", 2)
    bank = _open_bank(home, chroma_url)
    cases = {c.id: c for c in bank.list(namespace=namespace)}
    replay = open_replay(_q_dir(home))
    values: dict[str, float] = {}
    if by == "q":
        reader = open_q(bank, _q_dir(home))
        if reader is None:
            raise _fail("no Q in the store (nothing recorded in <home>/q); rank --by used/helped")
        tasks = [query] if query else []
        if not tasks and replay is not None:
            tasks = [t.task for t in replay.recent(RECENT_TASKS, namespace)]
        if not tasks:
            raise _fail("give --query TASK (no recorded tasks to average Q over)", 2)
        ids = list(cases)
        if ids:
            mean = np.mean([reader.values(t, ids, namespace) for t in tasks], axis=0)
            values = dict(zip(ids, map(float, mean), strict=True))
        reader.close()
    elif by == "used":
        if replay is None:
            raise _fail("no replay buffer in the store (<home>/q): nothing records use")
        values = {cid: float(u.used) for cid, u in usage(replay.all()).items()}
    else:
        field = "times_helpful" if by == "helped" else "reward"
        values = {cid: float(getattr(c, field)) for cid, c in cases.items()}
    ranked = sorted(
        ((v, cid) for cid, v in values.items() if cid in cases), key=lambda p: (-p[0], p[1])
    )[:n]
    rows = [
        {"id": cid, by: v, "label": cases[cid].label, "reward": cases[cid].reward,
         "shown": cases[cid].times_retrieved, "helped": cases[cid].times_helpful,
         "task": cases[cid].task}
        for v, cid in ranked
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        typer.echo(
            f"{r[by]:9.4f}  {r['label']:8}  shown {r['shown']:<4} helped {r['helped']:<4} "
            f"{r['id']}  {r['task']}"
        )
