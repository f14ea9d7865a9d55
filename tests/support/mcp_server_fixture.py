"""A small real MCP server (FastMCP over stdio) used by the tool-loading tests."""

from __future__ import annotations

import os

from mcp.server.fastmcp import FastMCP

server = FastMCP("memento-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers and return their sum."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Return the text in upper case, with the server's process id."""
    return f"{text.upper()} (pid {os.getpid()})"


@server.tool()
def fail(message: str) -> str:
    """Always fail with the given message."""
    raise ValueError(message)


@server.tool()
def sleep(seconds: float) -> str:
    """Sleep for `seconds` and then answer."""
    import time

    time.sleep(seconds)
    return "awake"


if __name__ == "__main__":
    server.run("stdio")
