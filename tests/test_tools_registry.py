"""Registry and `memento tools` CLI: names, limits, exit codes, no secrets in listings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memento.cli.main import app
from memento.tools.config import ToolsConfig, WebSearchConfig
from memento.tools.registry import (
    ToolArgsError,
    UnknownToolError,
    available_tools,
    check_args,
    find_tool,
    load_tools,
)

runner = CliRunner()


def test_load_by_name() -> None:
    names = ["fetch_page", "python", "read_document", "calculator", "corpus_search", "web_search"]
    tools = load_tools(names, ToolsConfig())
    assert [t.name for t in tools] == names
    assert all(t.args_schema is not None for t in tools)


def test_unknown_name() -> None:
    with pytest.raises(UnknownToolError, match="unknown tool 'nope'"):
        load_tools(["nope"])


def test_listing_hides_the_key() -> None:
    config = ToolsConfig(web_search=WebSearchConfig(api_key="tvly-TOPSECRET"))  # type: ignore[arg-type]
    infos = {i.name: i for i in available_tools(config)}
    assert infos["web_search"].limits["api_key"] == "set"
    assert "TOPSECRET" not in repr(infos)


def test_check_args() -> None:
    tool = find_tool("calculator")
    assert check_args(tool, {"expression": "1"}) == {"expression": "1"}
    for bad in ({}, {"expression": 3, "x": 1}, [1]):
        with pytest.raises(ToolArgsError):
            check_args(tool, bad)


def test_cli_list_json() -> None:
    result = runner.invoke(app, ["tools", "list", "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["python"]["limits"]["timeout_s"] > 0
    assert rows["fetch_page"]["limits"]["allow_private"] is False


def test_cli_call_answers() -> None:
    result = runner.invoke(app, ["tools", "call", "calculator", "--args", '{"expression": "6*7"}'])
    assert result.exit_code == 0 and result.output.strip() == "42"


def test_cli_error_text_still_exits_zero() -> None:
    args = json.dumps({"url": "http://127.0.0.1:9/"})
    result = runner.invoke(app, ["tools", "call", "fetch_page", "--args", args])
    assert result.exit_code == 0 and result.output.startswith("Error:")


@pytest.mark.parametrize(
    "argv",
    [
        ["tools", "call", "no_such_tool"],
        ["tools", "call", "calculator", "--args", '{"expr": "1"}'],
        ["tools", "call", "calculator", "--args", "{not json"],
        ["tools", "call", "fetch_page", "--args", '{"url": 5}'],
    ],
)
def test_cli_unknown_tool_or_bad_args_exit_nonzero(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2


@pytest.mark.integration
def test_cli_calls_an_mcp_tool(tmp_path: Path) -> None:
    # mcp binds stdio_client's errlog default to sys.stderr at import; import it before
    # CliRunner swaps in a stream without fileno(), as the real CLI process never does.
    import mcp.client.stdio  # noqa: F401

    server = str(Path(__file__).parent / "support" / "mcp_server_fixture.py")
    config = {
        "mcp": {
            "servers": {"fx": {"transport": "stdio", "command": sys.executable, "args": [server]}}
        }
    }
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(config))
    ok = runner.invoke(
        app, ["tools", "call", "add", "--config", str(path), "--args", '{"a": 1, "b": 2}']
    )
    assert ok.exit_code == 0 and ok.output.strip() == "3"
    bad = runner.invoke(
        app, ["tools", "call", "add", "--config", str(path), "--args", '{"a": "x"}']
    )
    assert bad.exit_code == 2
    listed = runner.invoke(app, ["tools", "list", "--json", "--config", str(path)])
    assert "mcp:fx" in listed.output


def test_cli_bad_config_file(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text('{"python": {"timeout_s": -1}}')
    result = runner.invoke(app, ["tools", "list", "--config", str(path)])
    assert result.exit_code == 1 and "timeout_s" in result.output
