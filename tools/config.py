"""Configuration of the executor tools: one pydantic model per tool with its limits.

`ToolsConfig` gathers them. Defaults are conservative; environment variables only fill the
Tavily key and the store locations (through `memento.settings`), never a run's own values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebSearchConfig(_Limits):
    """Tavily web search."""

    api_key: SecretStr | None = Field(
        default=None, description="Tavily key; TAVILY_API_KEY fills it when unset."
    )
    api_base_url: str | None = Field(
        default=None, description="Tavily endpoint (default https://api.tavily.com)."
    )
    max_results: int = Field(default=5, ge=1, le=20, description="Results per query at most.")
    timeout_s: float = Field(default=20.0, gt=0, le=120, description="Request timeout.")
    max_snippet_chars: int = Field(default=500, ge=50, description="Snippet length cap.")


class CorpusConfig(_Limits):
    """Local corpus index and search."""

    path: Path | None = Field(
        default=None, description="Chroma folder; MEMENTO_HOME/corpus when unset."
    )
    url: str | None = Field(default=None, description="Chroma server URL (wins over path).")
    collection: str = Field(default="memento_corpus", description="Chroma collection name.")
    chunk_chars: int = Field(default=1000, ge=100, description="Target chunk length.")
    overlap_chars: int = Field(default=150, ge=0, description="Overlap between chunks.")
    max_file_bytes: int = Field(default=20_000_000, ge=1, description="Larger files are skipped.")
    top_k: int = Field(default=5, ge=1, le=50, description="Chunks returned per query.")
    retrieval: Literal["hybrid", "vector", "bm25"] = Field(
        default="hybrid", description="Vector search, BM25, or both fused with RRF."
    )
    rrf_k: float = Field(
        default=2.0,
        gt=0,
        description="RRF constant: score = sum 1/(rrf_k + rank); small k trusts top ranks.",
    )
    max_result_chars: int = Field(default=6000, ge=200, description="Answer length cap.")


class FetchConfig(_Limits):
    """SSRF-safe page fetching."""

    timeout_s: float = Field(default=15.0, gt=0, le=120, description="Whole-fetch deadline.")
    max_bytes: int = Field(default=3_000_000, ge=1024, description="Response body cap.")
    max_redirects: int = Field(default=5, ge=0, le=20, description="Redirects followed.")
    max_chars: int = Field(default=20_000, ge=200, description="Text returned at most.")
    allow_private: bool = Field(
        default=False,
        description="Allow loopback/private/link-local/reserved addresses (off by default).",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed even though private (e.g. an intranet '10.1.0.0/16').",
    )
    user_agent: str = Field(default="memento-fetch/0.1", description="User-Agent header.")


class PythonConfig(_Limits):
    """Python execution in a separate, limited process."""

    timeout_s: float = Field(default=20.0, gt=0, le=600, description="Wall-clock limit.")
    cpu_s: int = Field(default=20, ge=1, description="RLIMIT_CPU seconds.")
    memory_mb: int = Field(default=1024, ge=64, description="RLIMIT_AS address space.")
    max_processes: int = Field(
        default=256, ge=1, description="RLIMIT_NPROC (counts all processes of the user)."
    )
    max_file_mb: int = Field(default=32, ge=1, description="RLIMIT_FSIZE per written file.")
    max_output_chars: int = Field(default=8000, ge=200, description="stdout/stderr cap each.")
    isolate_network: bool = Field(
        default=True,
        description="Run under `unshare -rn` (no network) when the kernel allows it.",
    )


class DocumentsConfig(_Limits):
    """Reading PDF, DOCX, XLSX/CSV and text files."""

    max_bytes: int = Field(default=50_000_000, ge=1, description="Larger files are refused.")
    max_chars: int = Field(default=30_000, ge=200, description="Text returned at most.")
    max_rows: int = Field(default=500, ge=1, description="Table rows shown per sheet.")
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Parsing deadline.")
    memory_mb: int = Field(default=1024, ge=64, description="Extra memory for one parse.")
    roots: list[Path] | None = Field(
        default=None,
        description="Folders files may be read from; the working directory when unset.",
    )


class CalculatorConfig(_Limits):
    """Exact arithmetic and simple symbolic math."""

    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Evaluation deadline.")
    max_chars: int = Field(default=1000, ge=10, description="Expression length cap.")
    memory_mb: int = Field(default=512, ge=64, description="Extra memory for one evaluation.")


class MCPConfig(_Limits):
    """MCP servers whose tools are loaded (langchain-mcp-adapters connections)."""

    servers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "name -> connection, e.g. {'transport': 'stdio', 'command': 'python', 'args': [...]}"
            " or {'transport': 'streamable_http', 'url': 'http://host/mcp'}."
        ),
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Per-call deadline.")
    max_output_chars: int = Field(default=20_000, ge=200, description="Answer length cap.")
    tool_name_prefix: bool = Field(
        default=False, description="Prefix tool names with the server name."
    )


class CaseSearchConfig(_Limits):
    """Looking up past cases in the Case Bank (read only)."""

    home: Path | None = Field(
        default=None,
        description="Store folder (bank in <home>/chroma, Q in <home>/q); MEMENTO_HOME if unset.",
    )
    url: str | None = Field(default=None, description="Chroma server URL (wins over home).")
    namespace: str | None = Field(default=None, description="Only this namespace (None: all).")
    policy: Literal["similarity", "q"] = Field(
        default="similarity", description="Selection: cosine similarity or the learned Q."
    )
    k: int = Field(default=3, ge=1, le=20, description="Cases returned per query.")
    max_chars: int = Field(default=6000, ge=200, description="Answer length cap.")


class ToolsConfig(_Limits):
    """Every tool's configuration and limits."""

    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    python: PythonConfig = Field(default_factory=PythonConfig)
    documents: DocumentsConfig = Field(default_factory=DocumentsConfig)
    calculator: CalculatorConfig = Field(default_factory=CalculatorConfig)
    mcp: MCPConfig = Field(default_factory=MCPConfig)
    case_search: CaseSearchConfig = Field(default_factory=CaseSearchConfig)


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... truncated {len(text) - limit} characters]"
