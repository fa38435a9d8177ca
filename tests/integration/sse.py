"""A minimal Server-Sent Events client over a raw socket, for the live-push tests.

It speaks just enough HTTP/1.1 to open a stream and parses events as the EventSource
specification does (id, event, data fields; comments ignored). Socket timeouts are safety limits
only: a test never asserts on how long something took.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    id: str
    event: str
    data: Any


class SseClient:
    def __init__(
        self,
        port: int,
        path: str,
        last_event_id: str | None = None,
        recv_buffer: int | None = None,
        timeout: float = 30,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if recv_buffer is not None:
            # Set before connecting so the advertised window stays small (a slow client).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        self.sock.sendall(f"{request}{extra}\r\n".encode())
        self.buffer = b""
        self.closed = False
        head = self._read_until(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {
            k.strip().lower(): v.strip()
            for k, v in (line.split(":", 1) for line in lines[1:] if line)
        }
        self.retry: int | None = None

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise EOFError("stream closed")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def next_event(self) -> Event:
        """The next event (comments and retry-only blocks are skipped); EOFError at the end."""
        while True:
            block = self._read_until(b"\n\n").decode()
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry":
                    self.retry = int(value)
                fields[name] = value
            if "data" in fields:
                return Event(
                    fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])
                )

    def events_until(self, predicate: Any, limit: int = 10000, limit_s: float = 120) -> list[Event]:
        """Events up to and including the first for which `predicate(event)` holds. `limit_s` is a
        safety limit (heartbeats would otherwise keep an unmatched wait alive forever)."""
        seen: list[Event] = []
        deadline = time.monotonic() + limit_s
        for _ in range(limit):
            if time.monotonic() > deadline:
                break
            event = self.next_event()
            seen.append(event)
            if predicate(event):
                return seen
        raise AssertionError(f"no matching event in {limit}: {[e.event for e in seen]}")

    def drain(self) -> list[Event]:
        """Every event until the server closes the stream."""
        seen: list[Event] = []
        try:
            while True:
                seen.append(self.next_event())
        except EOFError:
            return seen

    def close(self) -> None:
        self.sock.close()
