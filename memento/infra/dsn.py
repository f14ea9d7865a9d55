"""Connection strings: tell a PostgreSQL DSN from a path, and print one without its password."""

from __future__ import annotations


def is_dsn(spec: str) -> bool:
    """True for a PostgreSQL connection string (postgres:// or postgresql://)."""
    return spec.startswith(("postgres://", "postgresql://"))


def describe(spec: str) -> str:
    """The spec with any password hidden, for logs and messages."""
    if "://" in spec and "@" in spec:
        scheme, rest = spec.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return spec
