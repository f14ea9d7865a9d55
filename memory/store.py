"""Chroma clients, built once and cached per location (a folder or a server URL).

One code path for both deployments: an embedded PersistentClient under a folder, or an
HttpClient for a Chroma server. Chroma's own default embedding function (which downloads a
model) is never used: collections are created with embeddings supplied by the project.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlparse

from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

_clients: dict[tuple[str, str, tuple[tuple[str, str], ...]], ClientAPI] = {}
_lock = threading.Lock()


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def get_client(
    *,
    path: Path | str | None = None,
    url: str | None = None,
    headers: dict[str, str] | None = None,
) -> ClientAPI:
    """Return the cached Chroma client for a server `url`, else for the folder `path`.

    Raises:
        ValueError: when neither is given, or the URL is not http(s)://host[:port].
    """
    header_key = tuple(sorted((headers or {}).items()))
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"Chroma URL must look like http://host:port, got {url!r}")
        key = ("http", url.rstrip("/"), header_key)
    elif path is not None:
        key = ("path", str(Path(path).expanduser().resolve()), ())
    else:
        raise ValueError("get_client needs a Chroma server url or a folder path")
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _open(key[0], key[1], dict(header_key), url)
            _clients[key] = client
        return client


def _open(kind: str, where: str, headers: dict[str, str], url: str | None) -> ClientAPI:
    import chromadb

    if kind == "http":
        assert url is not None
        parsed = urlparse(url)
        ssl = parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)
        try:
            return chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1",
                port=port,
                ssl=ssl,
                headers=headers or None,
                settings=_chroma_settings(),
            )
        except ValueError as exc:  # chromadb's "Could not connect to a Chroma server"
            raise ConnectionError(f"no Chroma server answers at {url}: {exc}") from exc
    Path(where).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=where, settings=_chroma_settings())


def forget_clients() -> None:
    """Drop cached clients (tests that delete store folders call this)."""
    with _lock:
        _clients.clear()
