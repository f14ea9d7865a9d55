"""An example agent with Memento's memory, for LangGraph Studio (`memento_agent` in langgraph.json).

A plain `create_agent` agent with a calculator and `MementoMiddleware` over the bank the settings
name (MEMENTO_HOME / MEMENTO_CHROMA_URL). It is compiled WITHOUT a checkpointer (the server
brings its own, and each thread's id keys its case). Its model is MEMENTO_LLM, else the offline
stand-in (which only echoes: set MEMENTO_LLM for a real agent). No reward is known in Studio, so
each run waits for `memento feedback --agent THREAD_ID --reward R`.
"""

from __future__ import annotations

from langchain.agents import create_agent

from memento.graphs.models import load_chat_model
from memento.middleware.core import MementoMiddleware
from memento.settings import get_settings
from memento.tools.registry import load_tools

SYSTEM_PROMPT = "You are a helpful research assistant. Use the tools when they help."

memory = MementoMiddleware()
"""Memory over the settings' bank (opened on the first run, not at import)."""

agent = create_agent(
    load_chat_model(get_settings().llm or "offline"),
    load_tools(["calculator"]),
    system_prompt=SYSTEM_PROMPT,
    middleware=[memory],
)
