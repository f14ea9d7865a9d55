"""MCP loading: a real stdio FastMCP server (tests/support/mcp_server_fixture.py) via the loader."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from memento.tools.config import MCPConfig, ToolsConfig
from memento.tools.mcp import ToolLoadError, aload_mcp_tools, guard_tool, load_mcp_tools
from memento.tools.registry import aload_tools, available_tools, load_tools

pytestmark = pytest.mark.integration

SERVER = str(Path(__file__).parent / "support" / "mcp_server_fixture.py")


def _config(timeout_s: float = 20.0, **servers: dict[str, object]) -> MCPConfig:
    default = {"fixture": {"transport": "stdio", "command": sys.executable, "args": [SERVER]}}
    return MCPConfig(servers=servers or default, timeout_s=timeout_s)


async def test_lists_and_calls_the_servers_tools() -> None:
    tools = {t.name: t for t in await aload_mcp_tools(_config())}
    assert {"add", "shout", "fail", "sleep"} <= set(tools)
    assert "Add two integers" in tools["add"].description
    assert await tools["add"].ainvoke({"a": 2, "b": 40}) == "42"
    assert (await tools["shout"].ainvoke({"text": "hi"})).startswith("HI (pid")


async def test_tool_error_and_bad_args_come_back_as_text() -> None:
    tools = {t.name: t for t in await aload_mcp_tools(_config())}
    assert "nope" in await tools["fail"].ainvoke({"message": "nope"})
    assert "valid integer" in await tools["add"].ainvoke({"a": "x", "b": 1})


async def test_hanging_tool_is_cut_off() -> None:
    """The 3 s deadline times the hanging call alone: the server starts (and answers) first.

    The loader opens a server process per call, whose start alone can take over 3 s on a busy
    CI machine; here one session serves both calls, so only the hang itself meets the deadline.
    """
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools as session_tools

    config = _config(timeout_s=3)
    async with asyncio.timeout(120):  # every await bounded: a regression fails, not hangs
        client = MultiServerMCPClient(dict(config.servers))  # type: ignore[arg-type]
        async with client.session("fixture") as session:
            tools = {t.name: guard_tool(t, config) for t in await session_tools(session)}
            assert await tools["add"].ainvoke({"a": 1, "b": 1}) == "2"  # up and answering
            started = time.monotonic()
            out = await tools["sleep"].ainvoke({"seconds": 30})
            waited = time.monotonic() - started
    assert out.startswith("Error:") and "within 3 s" in out
    assert waited < 20  # cut off at the deadline, not after the 30 s sleep


def test_sync_invoke_works() -> None:
    (add,) = [t for t in load_mcp_tools(_config()) if t.name == "add"]
    assert add.invoke({"a": 1, "b": 2}) == "3"


async def test_a_tool_calling_agent_step_uses_it() -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    tools = await aload_tools(["mcp:fixture", "calculator"], ToolsConfig(mcp=_config()))
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    call = {"name": "add", "args": {"a": 20, "b": 22}, "id": "call-1", "type": "tool_call"}
    result = await graph.compile().ainvoke({"messages": [AIMessage(content="", tool_calls=[call])]})
    message = result["messages"][-1]
    assert isinstance(message, ToolMessage)
    assert message.content == "42" and message.tool_call_id == "call-1"


@pytest.mark.parametrize(
    ("servers", "needle"),
    [
        ({"bad": {"transport": "stdio", "command": "/nonexistent/server", "args": []}}, "'bad'"),
        ({"bad": {"transport": "carrier-pigeon"}}, "transport must be one of"),
        ({"bad": {"transport": "streamable_http"}}, "needs 'url'"),
    ],
)
def test_bad_server_configuration_names_the_server(
    servers: dict[str, dict[str, object]], needle: str
) -> None:
    with pytest.raises(ToolLoadError, match=needle):
        load_mcp_tools(MCPConfig(servers=servers, timeout_s=10))


def test_registry_lists_mcp_servers() -> None:
    infos = {i.name: i for i in available_tools(ToolsConfig(mcp=_config()))}
    assert infos["mcp:fixture"].limits["transport"] == "stdio"
    assert {
        "web_search",
        "corpus_search",
        "fetch_page",
        "python",
        "read_document",
        "calculator",
    } <= set(infos)
    names = [t.name for t in load_tools(["mcp"], ToolsConfig(mcp=_config()))]
    assert "add" in names
