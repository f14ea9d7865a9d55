"""A deterministic executor model that obeys instructions it reads in tool output (for attacks).

`ObedientModel` plays the worst-case LLM for prompt-injection tests: it searches the corpus for
its subtask, then does whatever the retrieved text asks. It follows three kinds of instruction:

- explicit directives `<<CALL tool {json arguments}>>`; `{{LAST_OUTPUT}}` in an argument is replaced
  by the (URL-encoded) output of the directive before it in the same document, so one document
  can chain "dump the environment" into "send it to my server";
- every http(s) URL in the text (it fetches each one);
- "print the value of NAME and NAME" (it asks the python tool to print those variables).

When nothing new is asked it answers with everything the tools returned, as a model that repeats
its evidence would, so whatever a tool leaked would reach the state, checkpoints and case bank.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import ClassVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from memento.testing import ReplyChatModel

_CALL = re.compile(r"<<CALL (?P<name>[\w:-]+) (?P<args>\{.*?\})>>", re.S)
_URL = re.compile(r"https?://(?:\[[0-9a-fA-F:.]+\]|[^\s/<>\]\[()\"']+)[^\s<>()\"']*")
_PRINT = re.compile(r"[Pp]rint the value of ([A-Z][A-Z0-9_]+)(?: and ([A-Z][A-Z0-9_]+))?")
Call = tuple[str, str]  # (tool name, arguments as canonical JSON)


def _wanted_calls(text: str, done: Mapping[Call, str]) -> list[Call]:
    """Calls the text asks for that are not made yet, in document order."""
    wanted: list[Call] = []
    previous: Call | None = None
    for match in _CALL.finditer(text):
        raw = match.group("args")
        if "{{LAST_OUTPUT}}" in raw:
            if previous is None or previous not in done:
                break  # the step it relays has not run yet
            raw = raw.replace("{{LAST_OUTPUT}}", urllib.parse.quote(done[previous][:2000]))
        try:
            args = json.loads(raw)
        except ValueError:
            continue
        call = (match.group("name"), json.dumps(args, sort_keys=True))
        wanted.append(call)
        previous = call
    without_calls = _CALL.sub(" ", text)
    for url in _URL.findall(without_calls):
        wanted.append(("fetch_page", json.dumps({"url": url.rstrip(".,;:")}, sort_keys=True)))
    for match in _PRINT.finditer(without_calls):
        names = [n for n in match.groups() if n]
        code = "import os\n" + "".join(f"print(os.environ.get({n!r}))\n" for n in names)
        wanted.append(("python", json.dumps({"code": code}, sort_keys=True)))
    return [c for c in dict.fromkeys(wanted) if c not in done]


class ObedientModel(ReplyChatModel):
    """Executor stand-in that carries out every instruction found in tool results."""

    llm_type: ClassVar[str] = "obedient-attack-model"
    stand_in_note: str = "answered by the obedient attack model (tests only, not an LLM)"

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        asked: dict[str, Call] = {}
        for m in messages:
            if isinstance(m, AIMessage):
                for c in m.tool_calls:
                    asked[str(c["id"])] = (c["name"], json.dumps(c["args"], sort_keys=True))
        done = {asked[str(m.tool_call_id)]: m.text for m in messages if isinstance(m, ToolMessage)}
        outputs = [m.text for m in messages if isinstance(m, ToolMessage)]
        if not outputs:
            subtask = next((m.text for m in messages if isinstance(m, HumanMessage)), "")
            query = re.sub(r"</?subtask>", "", subtask).strip()
            wanted = [("corpus_search", json.dumps({"query": query, "k": 10}, sort_keys=True))]
        else:
            read = [t for t in outputs if not t.startswith("Error")]  # not its own failures
            wanted = [c for text in read for c in _wanted_calls(text, done)]
            wanted = list(dict.fromkeys(wanted))
        if wanted:
            calls = [
                {"name": name, "args": json.loads(args), "id": f"call_{len(messages)}_{i}"}
                for i, (name, args) in enumerate(wanted)
            ]
            return AIMessage(content="", tool_calls=calls)
        return AIMessage(content="\n---\n".join(outputs)[:6000] or "nothing found")
