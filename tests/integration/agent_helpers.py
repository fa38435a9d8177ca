"""Helpers for the agent and MCP tests: a run with a planted problem posted as records, its
diagnosis awaited, and the agent's Server-Sent Events read back."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from atlasd import Server

Json = Any


def mlp_architecture(seq: int, hidden: int = 32) -> Json:
    def shape(n: int) -> list[int]:
        return [64, n]

    return {
        "kind": "architecture",
        "seq": seq,
        "modules": [
            {"name": "", "type": "Sequential", "parent": None, "params": 0, "trainable_params": 0},
            {
                "name": "0",
                "type": "Linear",
                "parent": "",
                "params": 64 * hidden + hidden,
                "trainable_params": 64 * hidden + hidden,
                "input_shape": shape(64),
                "output_shape": shape(hidden),
                "flops": 2 * 64 * hidden,
            },
            {"name": "1", "type": "ReLU", "parent": "", "params": 0, "trainable_params": 0},
            {
                "name": "2",
                "type": "Linear",
                "parent": "",
                "params": hidden * 10 + 10,
                "trainable_params": hidden * 10 + 10,
                "input_shape": shape(hidden),
                "output_shape": shape(10),
                "flops": 2 * hidden * 10,
            },
        ],
    }


def post_overtrained_run(server: Server, name: str, epochs: int = 14) -> str:
    """A run that keeps training long after its validation loss bottomed out at epoch 3."""
    reply = server.post(
        "/api/v1/runs", {"project": "agent-zoo", "name": name, "config": {"num_epochs": epochs}}
    )
    assert reply.status in (200, 201), reply
    run: str = reply.body["id"]
    records: list[Json] = [mlp_architecture(1)]
    seq = 2
    t0 = 1_700_000_000.0
    for epoch in range(epochs):
        for i in range(20):
            step_no = epoch * 20 + i
            loss = 2.0 * 0.6 ** min(epoch, 3) + 0.001 * i
            records.append(
                {
                    "kind": "step",
                    "seq": seq,
                    "step": step_no,
                    "epoch": epoch,
                    "ts": t0 + step_no * 0.5,
                    "loss": loss,
                    "samples": 64,
                }
            )
            seq += 1
        val = 1.0 * 0.5 ** min(epoch, 3) + 0.02 * max(0, epoch - 3)
        records.append(
            {
                "kind": "epoch",
                "seq": seq,
                "epoch": epoch,
                "ts": t0 + (epoch + 1) * 10,
                "duration_s": 10.0,
                "train": {"loss": 2.0 * 0.6 ** min(epoch, 3)},
                "val": {"loss": val, "accuracy": 0.9},
                "energy": [
                    {
                        "component": "gpu",
                        "device": "cuda:0",
                        "joules": 1500.0,
                        "method": "measured:nvml-counter",
                    },
                    {"component": "cpu", "joules": 200.0, "method": "estimated:cpu-model"},
                ],
            }
        )
        seq += 1
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": records})
    assert reply.status == 200, reply
    return run


def wait_for_diagnosis(server: Server, run: str, min_epochs: int = 1, limit_s: float = 60) -> Json:
    """The run's diagnosis document once the analysis service has stored one."""
    deadline = time.monotonic() + limit_s  # a safety limit, not a timing assertion
    while True:
        reply = server.get(f"/api/v1/runs/{run}/diagnostics")
        if reply.status == 200 and reply.body and reply.body.get("grade"):
            return reply.body
        if time.monotonic() > deadline:
            raise AssertionError(f"no diagnosis for {run}: {reply}\n{server.log()[-3000:]}")
        time.sleep(0.2)


@dataclass
class ChatStream:
    status: int
    events: list[tuple[str, Json]]

    def named(self, name: str) -> list[Json]:
        return [data for event, data in self.events if event == name]

    @property
    def text(self) -> str:
        return "".join(e["text"] for e in self.named("token"))

    @property
    def done(self) -> Json:
        finished = self.named("done")
        assert finished, f"the chat did not finish: {self.events}"
        return finished[-1]


def parse_sse(raw: str) -> list[tuple[str, Json]]:
    events: list[tuple[str, Json]] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name = "message"
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def chat(server: Server, payload: Json, timeout: float = 90) -> ChatStream:
    """POSTs to /api/v1/agent/chat and reads the whole event stream (it ends with the answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/api/v1/agent/chat",
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        resp = conn.getresponse()
        raw = resp.read().decode()
        if resp.status != 200:
            return ChatStream(resp.status, [("error", json.loads(raw))])
        return ChatStream(resp.status, parse_sse(raw))
    finally:
        conn.close()
