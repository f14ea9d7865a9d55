"""Questions about a LangGraph thread's checkpoint snapshot."""

from __future__ import annotations

from typing import Any


def thread_finished(snapshot: Any) -> bool:
    """True when the thread has state and nothing left to run.

    `next` leaves out a step whose writes were saved before the process died (e.g. judge done,
    write_memory not yet started); `tasks` still lists it, so such a thread is not finished.
    """
    return bool(snapshot.values) and not snapshot.next and not snapshot.tasks
