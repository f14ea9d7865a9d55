"""`memento run`, `memento feedback` and `memento graph`: one task end to end, from a terminal."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import typer

from memento.settings import get_settings

LLM_HELP = "Model spec for every role: 'offline', 'provider:model' or an OpenAI-compatible name."


def _context(**fields: Any) -> Any:
    from memento.graphs.context import Context

    return Context(**{k: v for k, v in fields.items() if v is not None})


def _home(home: Path | None) -> Path:
    return home or get_settings().home


async def _with_graph(home: Path, body: Any) -> Any:
    from memento.graphs.builder import build_graph
    from memento.infra.checkpointers import open_checkpointer

    spec = get_settings().checkpointer or str(home / "checkpoints.sqlite")
    async with open_checkpointer(spec) as saver:
        return await body(build_graph(checkpointer=saver))


def _print_update(node: str, update: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"event": "update", "node": node, "update": update}, default=str))
        return
    if node == "retrieve_cases":
        cases = update.get("retrieved", [])
        typer.echo(f"[retrieve_cases] {len(cases)} case(s)")
        for c in cases:
            typer.echo(f"  {c['label']:<8} {c['score']:+.3f}  {c['task'][:90]}")
    elif node == "plan":
        if update.get("status") == "failed":
            typer.echo(f"[plan] FAILED: {update.get('failure')}")
        elif update.get("answer") is not None:
            typer.echo(f"[plan] answer: {update['answer']}")
        for step in (update.get("plan") or {}).get("plan", []):
            typer.echo(f"[plan] {step['id']}. {step['description']}")
    elif node == "execute":
        for r in update.get("subtask_results", []):
            mark = "ok" if r["ok"] else "FAILED"
            typer.echo(f"[execute] {r['id']} ({mark}): {r['result'][:200]}")
    elif node == "judge":
        typer.echo(f"[judge] reward={update.get('reward')} {update.get('judgement')}")
    elif node == "write_memory":
        typer.echo(f"[write_memory] case: {update.get('case_id')}")
    elif node == "update_q":
        typer.echo(f"[update_q] {update.get('q_update')}")


def _print_result(values: dict[str, Any], thread_id: str, home: Path, as_json: bool) -> None:
    keys = ("task", "answer", "status", "failure", "reward", "case_id", "model_note")
    result = {k: values.get(k) for k in keys}
    result.update(thread_id=thread_id, store=str(home))
    if as_json:
        typer.echo(json.dumps({"event": "result", **result}, default=str))
        return
    typer.echo(f"answer: {result['answer']}")
    typer.echo(f"reward: {result['reward']}   status: {result['status']}")
    where = f"case {result['case_id']} in {home}" if result["case_id"] else "no case written"
    typer.echo(f"memory: {where}   thread: {thread_id}")
    if result["model_note"]:
        typer.echo(f"note: {result['model_note']}")


def run(
    question: str = typer.Argument(..., help="The task or question."),
    ground_truth: list[str] = typer.Option(
        None, "--ground-truth", "-g", help="An accepted answer (repeatable)."
    ),
    thread_id: str | None = typer.Option(None, help="Resume or inspect this thread."),
    llm: str | None = typer.Option(None, "--llm", help=LLM_HELP),
    selection: str | None = typer.Option(None, help="none, similarity, q or q_softmax."),
    k: int | None = typer.Option(None, "-k", help="Cases shown to the planner."),
    tools: str | None = typer.Option(None, help="Comma-separated executor tools."),
    namespace: str | None = typer.Option(None, help="Case-bank namespace."),
    home: Path | None = typer.Option(None, help="Store folder (default MEMENTO_HOME)."),
    model_timeout: float | None = typer.Option(
        None,
        "--model-timeout",
        min=0.001,
        help="Seconds one model call may take, retries included (default "
        "MEMENTO_MODEL_TIMEOUT_S, else 300).",
    ),
    tool_timeout: float | None = typer.Option(
        None,
        "--tool-timeout",
        min=0.001,
        help="Seconds one round of tool calls may take (default MEMENTO_TOOL_TIMEOUT_S).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable JSON lines."),
) -> None:
    """Run one task end to end and print the answer and where its case was stored.

    A model call that fails (after the client's retries) stops the run where it was, with exit
    code 1 and one line naming the call and its endpoint; nothing is written to memory, and the
    same command with the thread id resumes it.
    """
    from memento.graphs.models import ModelNotConfiguredError, resolve_spec
    from memento.infra.model_calls import ModelCallFailed
    from memento.infra.threads import thread_finished

    ctx = _context(
        llm=llm,
        selection=selection,
        k=k,
        tools=tools,
        namespace=namespace,
        home=str(home) if home else None,
        model_timeout_s=model_timeout,
        tool_timeout_s=tool_timeout,
    )
    try:
        for role in ("planner", "executor"):
            resolve_spec(role, getattr(ctx, f"{role}_model"), ctx.llm)  # type: ignore[arg-type]
    except ModelNotConfiguredError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    store = _home(home)
    tid = thread_id or uuid.uuid4().hex

    async def body(graph: Any) -> None:
        config = {"configurable": {"thread_id": tid}}
        snapshot = await graph.aget_state(config)
        if thread_finished(snapshot):
            if not as_json:
                typer.echo(f"thread {tid} already finished; stored result:")
            _print_result(snapshot.values, tid, store, as_json)
            return
        payload = None
        if not snapshot.values:
            payload = {"task": question, "ground_truth": ground_truth or None}
        elif not as_json:
            typer.echo(f"resuming thread {tid} at {list(snapshot.next)}")
        stream = graph.astream(
            payload, config, context=ctx, stream_mode="updates", durability="sync"
        )
        async for chunk in stream:
            for node, update in chunk.items():
                if isinstance(update, dict):
                    _print_update(node, update, as_json)
        final = await graph.aget_state(config)
        _print_result(final.values, tid, store, as_json)

    try:
        asyncio.run(_with_graph(store, body))
    except ModelCallFailed as exc:
        if as_json:
            event = {"event": "error", "error": str(exc), "role": exc.role, "thread_id": tid}
            typer.echo(json.dumps({**event, "endpoint": exc.endpoint}))
        typer.echo(f"error: {exc}; nothing was stored: resume with --thread-id {tid}", err=True)
        raise typer.Exit(1) from None


def feedback(
    thread_id: str = typer.Argument(..., help="The finished thread to re-label."),
    reward: float = typer.Option(..., "--reward", "-r", help="Reward in [0, 1]."),
    llm: str | None = typer.Option(None, "--llm", help=LLM_HELP),
    home: Path | None = typer.Option(None, help="Store folder (default MEMENTO_HOME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    agent: bool = typer.Option(
        False, "--agent", help="The thread is a create_agent agent's, run with MementoMiddleware."
    ),
    namespace: str = typer.Option("default", "--namespace", help="With --agent: its namespace."),
) -> None:
    """Set or correct the reward of a finished thread; relabels its case and trains Q."""
    from memento.graphs.feedback import FeedbackError, give_feedback

    if agent:
        _agent_feedback(thread_id, reward, home, namespace, as_json)
        return
    store = _home(home)
    ctx = _context(llm=llm, home=str(home) if home else None)

    async def body(graph: Any) -> None:
        try:
            values = await give_feedback(graph, thread_id, reward, context=ctx)
        except FeedbackError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        _print_result(values, thread_id, store, as_json)

    asyncio.run(_with_graph(store, body))


def _agent_feedback(
    thread_id: str, reward: float, home: Path | None, namespace: str, as_json: bool
) -> None:
    """Settle an agent thread's run (`MementoMiddleware.give_feedback`) in the store's bank."""
    from memento.graphs.feedback import FeedbackError
    from memento.middleware import MementoMiddleware

    memory = MementoMiddleware(home=home, namespace=namespace)
    try:
        case_id = memory.give_feedback(thread_id, reward)
    except FeedbackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps({"thread_id": thread_id, "case_id": case_id, "reward": reward}))
    else:
        typer.echo(f"thread {thread_id}: case {case_id} now has reward {reward}")


def graph(
    mermaid: bool = typer.Option(True, "--mermaid/--ascii", help="Mermaid text (default)."),
) -> None:
    """Print the graph's drawing (Mermaid text, rendered offline)."""
    from memento.graphs.builder import build_graph

    drawable = build_graph().get_graph()
    typer.echo(drawable.draw_mermaid() if mermaid else drawable.draw_ascii())
