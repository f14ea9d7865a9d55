"""Keep secrets out of everything we write: state, checkpoints, cases, results and logs.

Secret values are the process's API keys and tokens; any occurrence is replaced by '***'.
Key-shaped strings (sk-..., tvly-...) are masked too, whatever their origin.
"""

from __future__ import annotations

import os
import re

_SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD|AUTH)", re.IGNORECASE)
KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|tvly-[A-Za-z0-9_\-]{8,})")


def secret_values() -> list[str]:
    """Values of environment variables whose names look secret (at least 6 characters long)."""
    values = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 6]
    return sorted(set(values), key=len, reverse=True)


def redact(text: str) -> str:
    """Return `text` with every secret value and key-shaped string replaced by '***'."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, "***")
    return KEY_SHAPES.sub("***", text)


def is_secret_env(name: str) -> bool:
    """True when an environment variable name looks like it holds a secret."""
    return bool(_SECRET_ENV.search(name))
