"""Memento's memory for any LangChain agent: `MementoMiddleware` for `create_agent`.

`memento.middleware.example` holds an example agent for LangGraph Studio.
"""

from memento.middleware.core import MementoMiddleware
from memento.middleware.runs import AgentRun, pending_runs
from memento.middleware.state import MementoState

__all__ = ["AgentRun", "MementoMiddleware", "MementoState", "pending_runs"]
