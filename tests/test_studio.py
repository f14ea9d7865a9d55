"""`langgraph dev` serves the graphs of langgraph.json to LangGraph Studio (on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    exe = Path(sys.executable).with_name("langgraph")
    if not exe.exists():
        exe = Path(shutil.which("langgraph") or "langgraph")
    port = _free_port()
    env = {
        **os.environ,
        "MEMENTO_HOME": str(tmp_path / "home"),
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(
        [
            str(exe),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "dev.log").read_text()[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.integration
async def test_studio_serves_graph_and_runs_a_thread(dev_server: str, tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=dev_server)
    assistants = await client.assistants.search()
    by_graph = {a["graph_id"]: a for a in assistants}
    assert {"memento", "executor"} <= set(by_graph)
    drawing = await client.assistants.get_graph(by_graph["memento"]["assistant_id"])
    node_ids = {n["id"] for n in drawing["nodes"]}
    assert {"retrieve_cases", "plan", "execute", "judge", "write_memory", "update_q"} <= node_ids

    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"],
        by_graph["memento"]["assistant_id"],
        input={"task": "What is 6 times 7?", "ground_truth": "42"},
        context={
            "llm": "offline",
            "selection": "none",
            "learn": False,
            "tools": "calculator",
            "home": str(tmp_path / "studio-home"),
        },
    )
    assert isinstance(result, dict)
    assert result["status"] == "answered", result
    assert result["model_note"] and "offline" in result["model_note"]
    assert result["subtask_results"][0]["tool_calls"][0]["name"] == "calculator"


@pytest.mark.integration
async def test_studio_serves_the_middleware_example_agent(dev_server: str, tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=dev_server)
    by_graph = {a["graph_id"]: a for a in await client.assistants.search()}
    assert "memento_agent" in by_graph
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"],
        by_graph["memento_agent"]["assistant_id"],
        input={"messages": [{"role": "user", "content": "What is 6 times 7?"}]},
    )
    assert isinstance(result, dict)
    assert result["memento_task"] == "What is 6 times 7?"
    assert result["memento_cases"] == []  # a fresh store: nothing to show yet
    assert result["memento_case_id"] is None  # no reward in Studio: the run waits for feedback
    from memento.memory.case_bank import CaseBank
    from memento.middleware import pending_runs

    bank = CaseBank(path=tmp_path / "home" / "chroma")
    assert pending_runs(bank) == [f"agent:default:{thread['thread_id']}"]
