"""TEST INSTRUMENTS — not planners. A local OpenAI-protocol server for tests and benchmarks.

:class:`OpenAIStubServer` speaks the chat-completions wire format on 127.0.0.1 (JSON replies, ``stream=true`` as
server-sent events, error statuses with OpenAI-style error bodies, ``retry-after`` headers, delays for timeouts,
``finish_reason`` of ``length``), and answers each request with whatever its handler returns. Two handlers:

- :class:`Scripted`: replays a list of :class:`StubReply` in order (tests of each failure mode).
- :class:`~ember.planners.llm.standin.StandInModel` (in ``standin.py``): the symbolic planner's plan corrupted at a
  seeded rate, for measuring the critique-and-repair loop where no model weights can be had.

No model runs here; the server is stopped when its ``with`` block ends, leaving no process or thread behind.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubReply:
    """One scripted answer."""

    content: str = ""
    status: int = 200
    finish_reason: str = "stop"
    delay_s: float = 0.0
    """Seconds to wait before answering (a client timeout shorter than this sees a timeout)."""
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "error"
    raw_body: str | None = None
    """Sent verbatim with status 200 instead of a chat completion (an endpoint that answers malformed bodies)."""


Handler = Callable[[dict[str, Any]], StubReply]


class Scripted:
    """Answers requests with ``replies`` in order; the last one repeats. Records every request body."""

    def __init__(self, replies: list[StubReply]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> StubReply:
        with self._lock:
            self.requests.append(request)
            index = min(len(self.requests) - 1, len(self.replies) - 1)
            return self.replies[index]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON", {})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}", {})
            return
        reply = self.server.handler(body)
        if reply.delay_s > 0:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            self._error(reply.status, reply.error_message, reply.headers)
            return
        if reply.raw_body is not None:
            raw = reply.raw_body.encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        model = str(body.get("model", "stub"))
        prompt_text = json.dumps(body.get("messages", []))
        usage = {
            "prompt_tokens": _tokens(prompt_text),
            "completion_tokens": _tokens(reply.content),
            "total_tokens": _tokens(prompt_text) + _tokens(reply.content),
        }
        created = int(time.time())
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            pieces = [reply.content[i : i + 40] for i in range(0, len(reply.content), 40)] or [""]
            for i, piece in enumerate(pieces):
                delta: dict[str, Any] = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                last = i == len(pieces) - 1
                chunk = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reply.finish_reason if last else None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if (body.get("stream_options") or {}).get("include_usage"):
                chunk = {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str]) -> None:
        data = json.dumps({"error": {"message": message, "type": "stub_error", "code": status}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    handler: Handler


class OpenAIStubServer:
    """``with OpenAIStubServer(handler) as server:`` serves on ``server.base_url`` until the block ends."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"host must be a loopback address; got {host!r}")
        self.httpd = _Server((host, port), _RequestHandler)
        self.httpd.handler = handler
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="openai-stub", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}/v1"

    def __enter__(self) -> OpenAIStubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
