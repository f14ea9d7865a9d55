"""Shared rules for benchmark scripts: what to do when their data or services are absent.

A benchmark whose input (the upstream Memento data, a server binary) is missing prints one line
starting "skipped:" with the reason and exits 0, so a smoke run on a developer's machine passes;
under CI=true the same absence exits non-zero, because CI must provide everything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def skip(reason: str) -> None:
    """Print "skipped: reason" and exit 0, or exit 1 with the reason under CI=true."""
    if os.environ.get("CI") == "true":
        sys.exit(f"{reason} (CI=true: it must be present)")
    print(f"skipped: {reason}")
    sys.exit(0)


def upstream_dir(checkout: Path) -> Path:
    """../shared/data/memento-upstream beside the checkout `checkout` (the tests read it too)."""
    return checkout.resolve().parent / "shared" / "data" / "memento-upstream"


def upstream_or_skip(checkout: Path, *names: str) -> Path:
    """The upstream data folder when it holds every file in `names`; else `skip`."""
    folder = upstream_dir(checkout)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        skip(f"upstream data not found: {', '.join(str(folder / n) for n in missing)}")
    return folder
