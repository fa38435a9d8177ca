"""Shared pieces of the Observer tests: a real atlasd, misbehaving servers, data and models.

atlasd is the binary the C++ build made (ATLAS_BUILD_DIR, default build/ at the repository
root); each test gets its own data directory and a free loopback port. The misbehaving servers
run in threads of the test process, on loopback.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ATLAS_BUILD_DIR", REPO / "build"))
ATLASD = BUILD / "server" / "src" / "cli" / "atlasd"

Json = Any


class Atlasd:
    """One atlasd process on loopback; restartable on the same port and data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "atlasd.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Atlasd:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port_file = self.data_dir / "port"
        port_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(ATLASD),
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--port-file",
                    str(port_file),
                    "--no-request-log",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30  # a safety limit, not a timing assertion
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"atlasd exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"atlasd did not start:\n{self.log()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text().strip())
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> Json:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def run(self, run_id: str) -> Json:
        return self.get(f"/api/v1/runs/{run_id}")

    def step_records(self, run_id: str) -> int:
        """The run's stored step records; 0 while the run does not exist yet."""
        try:
            return int(self.run(run_id)["totals"]["step_records"])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return 0
            raise


def wait_until(predicate: Any, limit_s: float = 30.0, what: str = "condition") -> None:
    """Polls `predicate` until it holds; the limit is a safety net against hanging, not a
    timing assertion."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


# ----- servers that misbehave -----


class GarbageServer:
    """Answers every POST with 200 and a body that is not JSON, or with a 500, alternately."""

    def __init__(self) -> None:
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.requests += 1
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                status = 500 if owner.requests % 2 == 0 else 200
                body = b"<html>this is not json" if status == 200 else b"\x00\xff garbage"
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.do_POST()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GarbageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class HangingServer:
    """Accepts connections and never answers (nor closes them)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._connections.append(connection)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._connections:
            connection.close()
        self._listener.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ----- data and models -----


def digits_dataset() -> TensorDataset:
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return TensorDataset(images, torch.tensor(digits.target, dtype=torch.long))


def digits_loader(batch_size: int = 64, num_workers: int = 0, limit: int | None = None) -> Any:
    dataset = digits_dataset()
    if limit is not None:
        dataset = TensorDataset(*(t[:limit] for t in dataset.tensors))
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        generator=generator,
    )


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 digits, with a Tanh to exercise saturation statistics."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=inplace),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.Tanh(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class SharedMLP(nn.Module):
    """One Linear applied twice (a shared module), and tied weights between two modules."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 32)
        self.shared = nn.Linear(32, 32)
        self.act = nn.ReLU(inplace=True)
        self.out = nn.Linear(32, 10)
        self.alias = self.shared  # the same module under a second name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.inp(x.flatten(1)))
        h = self.act(self.shared(h))
        h = self.act(self.alias(h))
        out: torch.Tensor = self.out(h)
        return out


class TinyGPT(nn.Module):
    """nanoGPT's shape: forward(idx, targets=None) returns (logits, loss)."""

    def __init__(self, vocab: int = 16, block: int = 8, embed: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, embed)
        self.wpe = nn.Embedding(block, embed)
        self.ln = nn.LayerNorm(embed)
        self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed)
        )
        self.ln_f = nn.LayerNorm(embed)
        self.lm_head = nn.Linear(embed, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in nanoGPT
        mask = torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        t = idx.shape[1]
        pos = torch.arange(t, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        h = self.ln(x)
        mask: torch.Tensor = self.mask  # type: ignore[assignment]
        attended, _ = self.attn(h, h, h, attn_mask=mask[:t, :t], need_weights=False)
        x = x + attended
        x = x + self.mlp(self.ln_f(x))
        logits: torch.Tensor = self.lm_head(x)
        if targets is None:
            return logits, None
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        )
        return logits, loss


def token_batches(
    n: int, batch: int = 16, block: int = 8, vocab: int = 16
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A learnable toy language: each token is the previous one plus one, modulo vocab."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        start = torch.randint(0, vocab, (batch, 1), generator=generator)
        seq = (start + torch.arange(block + 1)) % vocab
        out.append((seq[:, :-1].contiguous(), seq[:, 1:].contiguous()))
    return out


def step_series(server: Atlasd, run_id: str, metric: str = "loss") -> Json:
    """Every point of one series (points >= the count, so each point is its own bucket)."""
    return server.get(f"/api/v1/runs/{run_id}/series/{metric}?points=10000")


def http_get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def final_diagnosis(server: Atlasd, run_id: str, epochs: int) -> Any:
    """The diagnosis of the finished run: waits until the server has analysed every epoch."""
    latest: dict[str, Any] = {}

    def analysed() -> bool:
        latest["doc"] = server.get(f"/api/v1/runs/{run_id}/diagnostics")
        doc = latest["doc"]
        return bool(doc.get("run_status") != "running" and doc.get("epochs_analysed") == epochs)

    try:
        wait_until(analysed, limit_s=60, what=f"the diagnosis of run {run_id}")
    except AssertionError as error:
        # What the server last said and what it logged: enough to tell a record that never
        # arrived from one that arrived and was refused.
        doc = latest.get("doc", {})
        seen = {key: doc.get(key) for key in ("run_status", "epochs_analysed")}
        steps = step_series(server, run_id)["x"]
        raise AssertionError(
            f"{error}: expected {epochs} epochs and a finished run, last saw {seen} and "
            f"{len(steps)} steps with a loss; atlasd's log ends:\n"
            f"{server.log()[-4000:]}"
        ) from None
    return latest["doc"]
