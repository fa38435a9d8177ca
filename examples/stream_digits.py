"""Train a small CNN on scikit-learn's bundled digits and stream the run to atlasd.

This speaks protocol v1 (docs/protocol.md) directly over HTTP, so it needs nothing but torch and
scikit-learn; the Observer (atlas_observatory) will replace this hand-written client with two
lines. Usage: python examples/stream_digits.py [--url http://127.0.0.1:7878] [--epochs 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import socket
import time
import urllib.request
import uuid
from typing import Any

import torch
from sklearn.datasets import load_digits
from torch import nn


class Client:
    """Batches records and posts them to one run; every record gets the run's next seq."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.seq = 0
        self.pending: list[dict[str, Any]] = []
        self.run_id = ""

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = gzip.compress(json.dumps(payload).encode())
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def start(self, name: str, config: dict[str, Any]) -> None:
        answer = self.post(
            "/api/v1/runs",
            {
                "project": "demo",
                "name": name,
                "run_id": uuid.uuid4().hex,
                "host": {
                    "hostname": socket.gethostname(),
                    "os": platform.platform(),
                    "cpu_count": os.cpu_count(),
                },
                "device": {"type": "cpu"},
                "framework": {"torch": torch.__version__, "python": platform.python_version()},
                "config": config,
            },
        )
        self.run_id = answer["id"]

    def record(self, kind: str, **fields: Any) -> None:
        self.pending.append({"kind": kind, "seq": self.seq, **fields})
        self.seq += 1
        if len(self.pending) >= 50:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.post(f"/api/v1/runs/{self.run_id}/records", {"records": self.pending})
            self.pending = []

    def finish(self, status: str, reason: str = "") -> None:
        self.flush()
        self.post(
            f"/api/v1/runs/{self.run_id}/finish",
            {"seq": self.seq, "ts": time.time(), "status": status, "reason": reason},
        )


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x).flatten(1))
        return out


def architecture(model: nn.Module) -> list[dict[str, Any]]:
    modules = []
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        trainable = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        parent = None if name == "" else name.rpartition(".")[0]
        modules.append(
            {
                "name": name,
                "type": type(module).__name__,
                "parent": parent,
                "params": own,
                "trainable_params": trainable,
            }
        )
    return modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("ATLAS_URL", "http://127.0.0.1:7878"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    split = int(0.8 * len(x))
    train_x, train_y, val_x, val_y = x[:split], y[:split], x[split:], y[split:]

    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    client = Client(args.url)
    client.start("digits-cnn", {"epochs": args.epochs})
    client.record(
        "hyperparameters",
        values={
            "batch_size": args.batch_size,
            "learning_rate": 3e-3,
            "optimizer": "Adam",
            "num_epochs": args.epochs,
        },
    )
    client.record("architecture", modules=architecture(model))

    step = 0
    try:
        for epoch in range(args.epochs):
            started = time.time()
            order = torch.randperm(len(train_x))
            for i in range(0, len(order), args.batch_size):
                idx = order[i : i + args.batch_size]
                t0 = time.perf_counter()
                loss = loss_fn(model(train_x[idx]), train_y[idx])
                t1 = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                t2 = time.perf_counter()
                optimizer.step()
                t3 = time.perf_counter()
                client.record(
                    "step",
                    step=step,
                    epoch=epoch,
                    ts=time.time(),
                    loss=loss.item(),
                    samples=len(idx),
                    forward_ms=(t1 - t0) * 1e3,
                    backward_ms=(t2 - t1) * 1e3,
                    optimizer_ms=(t3 - t2) * 1e3,
                    step_ms=(t3 - t0) * 1e3,
                    samples_per_s=len(idx) / (t3 - t0),
                )
                step += 1
            with torch.no_grad():
                val_logits = model(val_x)
                val_loss = loss_fn(val_logits, val_y).item()
                val_acc = (val_logits.argmax(1) == val_y).float().mean().item()
            client.record(
                "epoch",
                epoch=epoch,
                ts=time.time(),
                duration_s=time.time() - started,
                train={"loss": loss.item()},
                val={"loss": val_loss, "accuracy": val_acc},
            )
            print(
                f"  epoch {epoch}: val loss {val_loss:.3f}, val accuracy {val_acc:.3f}", flush=True
            )
        client.finish("completed")
    except BaseException as error:
        client.finish("failed", repr(error))
        raise
    print(f"run {client.run_id} streamed to {args.url}")


if __name__ == "__main__":
    main()
