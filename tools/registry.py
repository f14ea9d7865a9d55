"""The tool registry: build the executor's tools by name, and describe them with their limits.

Names: `web_search`, `corpus_search`, `fetch_page`, `python`, `read_document`, `calculator`,
`case_search` (past cases from the Case Bank, for a subtask), plus `mcp` (the tools of every
configured MCP server) or `mcp:<server>` (one server's tools).
`search` picks `web_search` when a Tavily key is configured and `corpus_search` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, SecretStr

from memento.tools.config import ToolsConfig

Builder = Callable[[ToolsConfig], BaseTool]


def _web_search(config: ToolsConfig) -> BaseTool:
    from memento.tools.web_search import build_web_search

    return build_web_search(config.web_search)


def _corpus(config: ToolsConfig) -> BaseTool:
    from memento.tools.corpus_search import build_corpus_search

    return build_corpus_search(config.corpus)


def _fetch(config: ToolsConfig) -> BaseTool:
    from memento.tools.fetch import build_fetch

    return build_fetch(config.fetch)


def _python(config: ToolsConfig) -> BaseTool:
    from memento.tools.python_exec import build_python

    return build_python(config.python)


def _documents(config: ToolsConfig) -> BaseTool:
    from memento.tools.documents import build_documents

    return build_documents(config.documents)


def _calculator(config: ToolsConfig) -> BaseTool:
    from memento.tools.calculator import build_calculator

    return build_calculator(config.calculator)


def _case_search(config: ToolsConfig) -> BaseTool:
    from memento.tools.case_search import build_from_config

    return build_from_config(config.case_search)


BUILDERS: dict[str, tuple[Builder, str]] = {
    "web_search": (_web_search, "web_search"),
    "corpus_search": (_corpus, "corpus"),
    "fetch_page": (_fetch, "fetch"),
    "python": (_python, "python"),
    "read_document": (_documents, "documents"),
    "calculator": (_calculator, "calculator"),
    "case_search": (_case_search, "case_search"),
}
DEFAULT_TOOLS = ("search", "fetch_page", "python", "read_document", "calculator")


class UnknownToolError(KeyError):
    """A tool name that is neither built in nor a configured MCP server."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown tool"


@dataclass(frozen=True)
class ToolInfo:
    """A tool name with its description and limits, for listings."""

    name: str
    description: str
    limits: dict[str, Any]


def has_tavily_key(config: ToolsConfig) -> bool:
    """True when web search has a key (from the config, else TAVILY_API_KEY)."""
    if config.web_search.api_key is not None:
        return bool(config.web_search.api_key.get_secret_value())
    from memento.settings import load_settings

    key = load_settings().tavily_api_key
    return key is not None and bool(key.get_secret_value())


def resolve_name(name: str, config: ToolsConfig) -> str:
    """Map the alias `search` to the web or corpus search tool."""
    if name == "search":
        return "web_search" if has_tavily_key(config) else "corpus_search"
    return name


def _limits(section: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.model_dump(mode="json").items():
        if isinstance(getattr(section, key), SecretStr):
            out[key] = "set" if value else "unset"
        elif key == "api_key" and value is None:
            out[key] = "unset"
        elif key != "servers":
            out[key] = value
    return out


def _split(names: Sequence[str], config: ToolsConfig) -> tuple[list[str], list[str | None]]:
    builtin: list[str] = []
    servers: list[str | None] = []
    for raw in names:
        name = resolve_name(raw, config)
        if name in BUILDERS:
            builtin.append(name)
        elif name == "mcp":
            servers.append(None)
        elif name.startswith("mcp:") and name[4:] in config.mcp.servers:
            servers.append(name[4:])
        else:
            known = sorted([*BUILDERS, "search", "mcp", *(f"mcp:{s}" for s in config.mcp.servers)])
            raise UnknownToolError(f"unknown tool {raw!r}; known: {', '.join(known)}")
    return list(dict.fromkeys(builtin)), list(dict.fromkeys(servers))


def load_tools(names: Sequence[str], config: ToolsConfig | None = None) -> list[BaseTool]:
    """Build the named tools (MCP servers are started to list their tools).

    Raises:
        UnknownToolError: for a name that is not a tool.
        ToolLoadError: when a configured MCP server cannot be loaded.
    """
    from memento.tools.mcp import run_sync

    config = config or ToolsConfig()
    builtin, servers = _split(names, config)
    tools = [BUILDERS[name][0](config) for name in builtin]
    if servers:
        tools.extend(run_sync(_mcp_tools(servers, config)))
    return tools


async def aload_tools(names: Sequence[str], config: ToolsConfig | None = None) -> list[BaseTool]:
    """Async form of `load_tools` (for callers already inside an event loop)."""
    config = config or ToolsConfig()
    builtin, servers = _split(names, config)
    tools = [BUILDERS[name][0](config) for name in builtin]
    tools.extend(await _mcp_tools(servers, config))
    return tools


async def _mcp_tools(servers: list[str | None], config: ToolsConfig) -> list[BaseTool]:
    from memento.tools.mcp import aload_mcp_tools

    if None in servers:
        return await aload_mcp_tools(config.mcp)
    tools: list[BaseTool] = []
    for server in servers:
        tools.extend(await aload_mcp_tools(config.mcp, server))
    return tools


def available_tools(config: ToolsConfig | None = None) -> list[ToolInfo]:
    """Every built-in tool and configured MCP server, with its limits (secrets shown as set)."""
    config = config or ToolsConfig()
    infos = []
    for name, (builder, section) in BUILDERS.items():
        tool = builder(config)
        limits = _limits(getattr(config, section))
        if name == "web_search":
            limits["api_key"] = "set" if has_tavily_key(config) else "unset"
        infos.append(ToolInfo(name, tool.description, limits))
    for server, conn in config.mcp.servers.items():
        where = conn.get("url") or " ".join(
            [str(conn.get("command", "")), *map(str, conn.get("args", []))]
        )
        limits = {**_limits(config.mcp), "transport": conn.get("transport"), "server": where}
        infos.append(ToolInfo(f"mcp:{server}", "Tools of an MCP server.", limits))
    return infos


class ToolArgsError(ValueError):
    """Arguments that do not match a tool's schema."""


def check_args(tool: BaseTool, args: Any) -> dict[str, Any]:
    """Validate `args` against the tool's schema (pydantic model or JSON schema).

    Raises:
        ToolArgsError: naming each wrong field.
    """
    from pydantic import ValidationError

    if not isinstance(args, dict):
        raise ToolArgsError(f"arguments must be a JSON object, got {type(args).__name__}")
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            schema.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(args)'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolArgsError(f"bad arguments for {tool.name}: {problems}") from None
        extra = set(args) - set(schema.model_fields)
        if extra:
            raise ToolArgsError(f"bad arguments for {tool.name}: unknown {sorted(extra)}")
    elif isinstance(schema, dict):
        import jsonschema  # type: ignore[import-untyped]

        try:
            jsonschema.validate(args, schema)
        except jsonschema.ValidationError as exc:
            where = ".".join(map(str, exc.absolute_path)) or "(args)"
            raise ToolArgsError(f"bad arguments for {tool.name}: {where}: {exc.message}") from None
    return args


def find_tool(name: str, config: ToolsConfig | None = None) -> BaseTool:
    """One tool by name: a built-in (or `search`), else a tool of a configured MCP server.

    Raises:
        UnknownToolError: when no built-in or MCP tool has that name.
        ToolLoadError: when an MCP server cannot be loaded.
    """
    config = config or ToolsConfig()
    resolved = resolve_name(name, config)
    if resolved in BUILDERS:
        return BUILDERS[resolved][0](config)
    if config.mcp.servers:
        for tool in load_tools(["mcp"], config):
            if tool.name == name:
                return tool
    raise UnknownToolError(f"unknown tool {name!r} (see `memento tools list`)")
