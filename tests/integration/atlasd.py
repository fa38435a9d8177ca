"""A real atlasd on a free loopback port, and a small HTTP client for it.

Tests start the server binary built by CMake, with its own data directory, and talk to it over
real sockets. ATLAS_BUILD_DIR names the build directory (default: build/ at the repository root).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ATLAS_BUILD_DIR", REPO / "build"))
ATLASD = BUILD / "server" / "src" / "cli" / "atlasd"
ATLAS_CLI = BUILD / "server" / "src" / "cli" / "atlas"

Json = Any


@dataclass
class Reply:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


class Server:
    """One atlasd process. Use as a context manager, or call start() and stop()."""

    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False  # set by stop(), so a deliberate stop is not taken for a crash
        self.log_path = data_dir / "atlasd.log"

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "port"
        port_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(ATLASD),
                    "--port",
                    "0",
                    "--data-dir",
                    str(self.data_dir),
                    "--port-file",
                    str(port_file),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"atlasd exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"atlasd did not start:\n{self.log()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text().strip())
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signals the server and waits for it; returns its exit code."""
        assert self.proc is not None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.stop()

    # --- HTTP -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            parsed: Json = json.loads(raw) if raw else None
            return Reply(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, payload: Json, encoding: str | None = None) -> Reply:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return self.request("POST", path, body, headers)

    def post_raw(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> Reply:
        return self.request("POST", path, body, {"Content-Type": content_type, **(extra or {})})

    def create_run(self, **fields: Json) -> str:
        payload = {"project_id": 1, "name": "run", **fields}
        reply = self.post("/api/v1/runs", payload)
        assert reply.status in (200, 201), reply
        run_id: str = reply.body["id"]
        return run_id


def step(seq: int, step_no: int | None = None, **fields: Json) -> dict[str, Json]:
    """A valid step record."""
    return {
        "kind": "step",
        "seq": seq,
        "step": seq if step_no is None else step_no,
        "epoch": 0,
        "ts": 1_700_000_000.0 + seq * 0.01,
        "loss": 2.0 / (seq + 1),
        "samples": 64,
        **fields,
    }
