"""The state `MementoMiddleware` adds to an agent's: the task, the cases shown, the case written.

Kept in the agent's state (so in its checkpoints): a resumed or replayed thread shows the same
cases and writes its case once. Plain JSON values only, like every other state field.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain.agents.middleware.types import AgentState, OmitFromInput

from memento.graphs.state import ShownCase


class MementoState(AgentState[Any]):
    """An agent's state with Memento's memory fields (none of them is taken as input)."""

    memento_task: NotRequired[Annotated[str | None, OmitFromInput]]
    """The task the cases were selected for (None: no task was found)."""
    memento_cases: NotRequired[Annotated[list[ShownCase], OmitFromInput]]
    """The cases put in the model's system message, best first (their ids included)."""
    memento_case_id: NotRequired[Annotated[str | None, OmitFromInput]]
    """Id of the case this thread wrote (None while its reward is pending or nothing was)."""
    memento_reward: NotRequired[Annotated[float | None, OmitFromInput]]
    """The reward the case was written with (None: pending, see `give_feedback`)."""
