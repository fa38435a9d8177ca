"""Loopback LLM providers written for the tests: they speak the real OpenAI chat-completions and
Anthropic Messages streaming wire formats (Server-Sent Events, tool calls included), follow a
script of replies, and record every request they receive.

A script item is a callable taking the request's JSON body and returning a Reply, so a reply
can quote what the agent sent (the tool results), proving they reached the model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = Any


@dataclass
class Reply:
    status: int = 200
    events: Sequence[tuple[str | None, Json]] = field(default_factory=list)  # (name, data)
    body: Json = None  # a JSON body for an error status
    stall_s: float = 0.0  # send the head and the first event, then stay silent this long
    chunk: int = 7  # bytes per write, so the stream arrives split mid-line


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Json


Script = Callable[[Json], Reply]


class FakeProvider:
    """One loopback provider; use as a context manager."""

    def __init__(self, script: Iterable[Script]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with provider.lock:
                    provider.seen.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    step = provider.script.pop(0) if provider.script else None
                if step is None:
                    self.send_json(500, {"error": {"message": "script exhausted"}})
                    return
                reply = step(body)
                if reply.status != 200:
                    self.send_json(reply.status, reply.body or {"error": {"message": "failure"}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                stream = b"".join(frame(name, data) for name, data in reply.events)
                if reply.stall_s > 0:
                    self.wfile.write(frame(*reply.events[0]))
                    self.wfile.flush()
                    time.sleep(reply.stall_s)
                    return
                for i in range(0, len(stream), reply.chunk):
                    self.wfile.write(stream[i : i + reply.chunk])
                    self.wfile.flush()

            def send_json(self, status: int, payload: Json) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def frame(name: str | None, data: Json) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {text}\n\n".encode()


# ----- OpenAI chat-completions streams -----


def _chunk(delta: Json, finish: str | None = None) -> tuple[None, Json]:
    return (
        None,
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        },
    )


def openai_tool_calls(calls: list[tuple[str, Json]]) -> Reply:
    """A turn calling tools; each call's arguments arrive split over two deltas."""
    events = [_chunk({"role": "assistant", "content": None})]
    for index, (name, args) in enumerate(calls):
        text = json.dumps(args)
        half = len(text) // 2
        events.append(
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{index}_{name}",
                            "type": "function",
                            "function": {"name": name, "arguments": text[:half]},
                        }
                    ]
                }
            )
        )
        events.append(
            _chunk({"tool_calls": [{"index": index, "function": {"arguments": text[half:]}}]})
        )
    events.append(_chunk({}, "tool_calls"))
    events.append((None, "[DONE]"))
    return Reply(events=events)


def openai_text(pieces: list[str]) -> Reply:
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": p}) for p in pieces]
    events.append(_chunk({}, "stop"))
    events.append((None, "[DONE]"))
    return Reply(events=events)


# ----- Anthropic Messages streams -----


def _message_start() -> tuple[str, Json]:
    return (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "fake",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
    )


def _message_end(reason: str) -> list[tuple[str, Json]]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason},
                "usage": {"output_tokens": 5},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def anthropic_tool_use(name: str, args: Json) -> Reply:
    text = json.dumps(args)
    half = len(text) // 2
    events = [
        _message_start(),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": f"toolu_{name}",
                    "name": name,
                    "input": {},
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for part in (text[:half], text[half:]):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events += _message_end("tool_use")
    return Reply(events=events)


def anthropic_text(pieces: list[str]) -> Reply:
    events = [
        _message_start(),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for p in pieces:
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events += _message_end("end_turn")
    return Reply(events=events)
