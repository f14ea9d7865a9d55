"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for wire-level tests.

It speaks what OpenAI, vLLM and Ollama speak (POST /v1/chat/completions, plain JSON or SSE with
a final usage chunk when `stream_options.include_usage` is asked), answers from a script (a
queue of replies: text, tool calls or a fault) and records every request body, so tests drive
the real `langchain_openai.ChatOpenAI` client and assert what it sent. When the queue is empty
the `responder` answers (default: HTTP 500 naming the exhausted script); `down(...)` makes a
fault persist for matching requests until `up()`.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

MODEL = "wire-test-model"
"""The model name the server reports in every reply."""

FaultKind = Literal["status", "drop", "malformed", "empty", "hang"]


@dataclass(frozen=True)
class Call:
    """One tool call of a reply; `arguments` is sent verbatim (so it may be bad JSON)."""

    name: str
    arguments: str
    id: str = ""


@dataclass(frozen=True)
class Text:
    """An assistant reply with text content."""

    content: str
    usage: tuple[int, int] | None = (11, 7)
    """(prompt, completion) tokens reported; None: the reply carries no usage."""


@dataclass(frozen=True)
class ToolCalls:
    """An assistant reply that calls tools."""

    calls: tuple[Call, ...]
    content: str = ""
    usage: tuple[int, int] | None = (13, 5)


@dataclass(frozen=True)
class Fault:
    """A reply that is not one: an HTTP error, a dropped connection, a bad body or a hang.

    status: HTTP `status` (with `Retry-After: retry_after` when set). drop: the connection is
    closed without a reply. malformed: 200 with a body that is not JSON. empty: 200 with
    `choices: []` (streamed: no choice chunk at all). hang: no reply for `seconds`.
    """

    kind: FaultKind
    status: int = 500
    retry_after: str | None = None
    seconds: float = 30.0


Reply = Text | ToolCalls | Fault


def rate_limited(retry_after: str = "0") -> Fault:
    """HTTP 429 with a Retry-After header."""
    return Fault("status", status=429, retry_after=retry_after)


def server_error(status: int = 500) -> Fault:
    """HTTP 500 or 503."""
    return Fault("status", status=status)


def mixed_tool_calls(valid: Call, *, unknown_tool: str = "no_such_tool") -> ToolCalls:
    """One valid call, one with arguments that are not JSON and one to a tool nobody has."""
    return ToolCalls(
        (
            valid,
            Call(valid.name, "expression = 2+", id="call_badjson"),
            Call(unknown_tool, "{}", id="call_unknown"),
        )
    )


UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: {ids}"
)
"""OpenAI's HTTP 400 message for a conversation with an unanswered tool call."""


def unanswered_tool_calls(body: dict[str, Any]) -> list[str]:
    """Ids of tool calls not answered by exactly one tool message right after their message."""
    messages = body.get("messages") or []
    missing: list[str] = []
    for index, message in enumerate(messages):
        calls = message.get("tool_calls") or [] if message.get("role") == "assistant" else []
        answers: list[str] = []
        for later in messages[index + 1 :]:
            if later.get("role") != "tool":
                break
            answers.append(str(later.get("tool_call_id")))
        missing += [c["id"] for c in calls if answers.count(c["id"]) != 1]
    return missing


def role_of(body: dict[str, Any]) -> str:
    """planner, executor or judge: which Memento role sent this request (by its prompt)."""
    messages = body.get("messages") or []
    first = str(messages[0].get("content") or "") if messages else ""
    if "<role>planner</role>" in first:
        return "planner"
    if "<role>executor</role>" in first:
        return "executor"
    return "judge"


@dataclass
class ScriptedOpenAI:
    """The server's state: the script, a persistent fault, and every request it got."""

    host: str = "127.0.0.1"
    replies: deque[Reply] = field(default_factory=deque)
    responder: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _outage: tuple[Fault, Callable[[dict[str, Any]], bool]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)
    _httpd: http.server.ThreadingHTTPServer | None = None
    _ids: int = 0
    exhausted: int = 0
    """Requests that found the script empty and no responder (answered with HTTP 500)."""

    @property
    def url(self) -> str:
        """The base URL to give OPENAI_BASE_URL (ends in /v1)."""
        assert self._httpd is not None, "server not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies, answered in order to the next requests."""
        with self._lock:
            self.replies.extend(replies)

    def down(self, fault: Fault, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Answer every request (or those `when` accepts) with `fault` until `up()`."""
        with self._lock:
            self._outage = (fault, when or (lambda _body: True))

    def up(self) -> None:
        """End the outage started by `down`."""
        with self._lock:
            self._outage = None

    def bodies(self, role: str | None = None) -> list[dict[str, Any]]:
        """Request bodies received so far (of one role, if given)."""
        with self._lock:
            got = list(self.requests)
        return [b for b in got if role is None or role_of(b) == role]

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._outage is not None and self._outage[1](body):
                return self._outage[0]
            if self.replies:
                return self.replies.popleft()
        if self.responder is not None:
            return self.responder(body)
        with self._lock:
            self.exhausted += 1
        return Fault("status", status=500)

    def next_id(self) -> int:
        """A fresh number for response and tool-call ids."""
        with self._lock:
            self._ids += 1
            return self._ids

    def start(self) -> ScriptedOpenAI:
        """Listen on an ephemeral port of `host`, serving from a daemon thread."""
        self._httpd = _Server((self.host, 0), _handler_for(self))
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging replies give up at once."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up mid-reply is expected here (timeouts); say nothing."""


def _message_json(reply: Text | ToolCalls, server: ScriptedOpenAI) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if isinstance(reply, ToolCalls):
        message["tool_calls"] = [
            {
                "id": c.id or f"call_{server.next_id()}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in reply.calls
        ]
    return message


def _usage(reply: Text | ToolCalls) -> dict[str, int] | None:
    if reply.usage is None:
        return None
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(reply: Text | ToolCalls, server: ScriptedOpenAI) -> dict[str, Any]:
    """The non-streamed chat.completion object of a reply."""
    finish = "tool_calls" if isinstance(reply, ToolCalls) else "stop"
    usage = _usage(reply)
    body = {
        "id": f"chatcmpl-{server.next_id()}",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "message": _message_json(reply, server), "finish_reason": finish}],
    }
    return body if usage is None else {**body, "usage": usage}


def chunks(reply: Text | ToolCalls, server: ScriptedOpenAI, usage: bool) -> Iterator[str]:
    """The SSE data lines of a streamed reply (role, content pieces, tool calls, finish)."""
    ident = f"chatcmpl-{server.next_id()}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": ident, "object": "chat.completion.chunk", "created": 0, "model": MODEL}
        return json.dumps({**body, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    text = reply.content
    for start in range(0, len(text), 8):
        yield chunk({"content": text[start : start + 8]})
    if isinstance(reply, ToolCalls):
        for index, call in enumerate(_message_json(reply, server)["tool_calls"]):
            yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, "tool_calls" if isinstance(reply, ToolCalls) else "stop")
    if usage and reply.usage is not None:
        body = {"id": ident, "object": "chat.completion.chunk", "created": 0, "model": MODEL}
        yield json.dumps({**body, "choices": [], "usage": _usage(reply)})


def _handler_for(server: ScriptedOpenAI) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet."""

        def _send(self, code: int, body: bytes, kind: str, **headers: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}', "application/json")
                return
            body = json.loads(raw)
            reply = server._next(body)
            missing = unanswered_tool_calls(body)
            if missing:  # as OpenAI does: the conversation itself is refused
                error = {"error": {"message": UNANSWERED.format(ids=", ".join(missing)),
                                   "type": "invalid_request_error"}}  # fmt: skip
                self._send(400, json.dumps(error).encode(), "application/json")
                return
            stream = bool(body.get("stream"))
            if isinstance(reply, Fault):
                self._fault(reply, stream)
                return
            if not stream:
                data = json.dumps(completion(reply, server)).encode()
                self._send(200, data, "application/json")
                return
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            lines = [f"data: {c}\n\n" for c in chunks(reply, server, usage)]
            self._send(200, ("".join(lines) + "data: [DONE]\n\n").encode(), "text/event-stream")

        def _fault(self, fault: Fault, stream: bool) -> None:
            if fault.kind == "hang":
                server._closing.wait(fault.seconds)
                self.close_connection = True
                return
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault.kind == "status":
                message = {"error": {"message": f"scripted HTTP {fault.status}", "type": "fault"}}
                extra = {"Retry_After": fault.retry_after} if fault.retry_after else {}
                data = json.dumps(message).encode()
                self._send(fault.status, data, "application/json", **extra)
                return
            if fault.kind == "malformed":
                kind = "text/event-stream" if stream else "application/json"
                data = b"data: {not json\n\n" if stream else b"{not json"
                self._send(200, data, kind)
                return
            # empty: a well-formed reply without any choice
            empty = {"id": "chatcmpl-empty", "object": "chat.completion", "created": 0,
                     "model": MODEL, "choices": []}  # fmt: skip
            if stream:
                line = json.dumps({**empty, "object": "chat.completion.chunk"})
                self._send(200, f"data: {line}\n\ndata: [DONE]\n\n".encode(), "text/event-stream")
            else:
                self._send(200, json.dumps(empty).encode(), "application/json")

    return Handler


def closed_port_url(host: str = "127.0.0.1") -> str:
    """A base URL nobody listens on (a port bound, then closed): connection refused."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}/v1"


def serve() -> Iterator[ScriptedOpenAI]:
    """Start a server and stop it afterwards (the body of the `openai_server` fixture)."""
    server = ScriptedOpenAI().start()
    try:
        yield server
    finally:
        server.stop()
