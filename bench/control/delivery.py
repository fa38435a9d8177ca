"""How long a control action takes to reach the training: POST /actions to the observer seeing it.

Not a test: a measurement, printed as markdown. Usage:

    ATLAS_BUILD_DIR=build .venv/bin/python bench/control/delivery.py [--actions 60]

It starts a real atlasd (from $ATLAS_BUILD_DIR) on loopback and a real Observer training the
digits CNN of the tests on CPU, with the default ObserverConfig delivery settings
(batch_max_delay_s 0.2, control_poll_interval_s 0.5). Each action is an ``adjust`` of a value
registered with ``register_adjustable``: harmless, repeatable, and its setter runs on the
training thread at the moment the observer applies the action. The latency of one action is
from just before the ``POST /api/v1/runs/{id}/actions`` is sent to that setter call, both on
this process's monotonic clock. Actions are posted one at a time, each after the previous one
was applied, at random intervals of 0.2-0.8 s (so they land anywhere in the batch and poll
cycles). Two situations:

- ``training``: the loop steps continuously (a few ms per step); actions ride on the replies to
  the telemetry batches, and are applied at the start of the next step;
- ``idle``: the training is paused (``pause`` from the API): no telemetry flows, so actions
  reach the observer through libatlas's poll, and the paused training thread applies them
  while it waits (it checks every 50 ms).

The p95 target of issue 7 is under 1 s in both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))

from obs_helpers import DigitsCNN, digits_loader  # noqa: E402

from atlas_observatory import Observer, ObserverConfig  # noqa: E402

BUILD = Path(os.environ.get("ATLAS_BUILD_DIR", REPO / "build"))


def start_atlasd(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = data_dir / "port"
    proc = subprocess.Popen(
        [
            str(BUILD / "server" / "src" / "cli" / "atlasd"),
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--port-file",
            str(port_file),
            "--no-request-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("atlasd did not start")
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


class Probe:
    """Posts adjust actions one at a time and times each until the setter sees it."""

    def __init__(self, actions_url: str, count: int, seed: int) -> None:
        self.actions_url = actions_url
        self.count = count
        self.random = random.Random(seed)
        self.latencies: list[float] = []
        self.value = 0.0
        self._sent_at: dict[float, float] = {}
        self._applied = threading.Event()
        self.done = threading.Event()

    def setter(self, value: float) -> None:  # runs on the training thread
        sent = self._sent_at.pop(value, None)
        if sent is not None:
            self.latencies.append(time.perf_counter() - sent)
        self.value = value
        self._applied.set()

    def run(self) -> None:
        try:
            for i in range(1, self.count + 1):
                time.sleep(self.random.uniform(0.2, 0.8))
                self._applied.clear()
                self._sent_at[float(i)] = time.perf_counter()
                post(self.actions_url, {"action": "adjust", "params": {"marker": i}})
                if not self._applied.wait(timeout=30):
                    raise RuntimeError(f"action {i} was not applied within 30 s")
        finally:
            self.done.set()


def measure(url: str, spool: str, situation: str, count: int) -> tuple[list[float], Any]:
    run_id = f"bench-{situation}-{os.getpid()}"
    config = ObserverConfig(
        server_url=url, run_id=run_id, spool_dir=spool, track_layer_health=False
    )
    observer = Observer(run_name=run_id, config=config)
    probe = Probe(f"{url}/api/v1/runs/{run_id}/actions", count, seed=len(situation))
    observer.register_adjustable("marker", lambda: probe.value, probe.setter)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = digits_loader()
    thread = threading.Thread(target=probe.run)

    def train_until(stop: threading.Event) -> None:
        while not stop.is_set():
            for x, y in loader:
                if stop.is_set():
                    break
                observer.step(model, x, y)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            observer.end_epoch()

    if situation == "training":
        for x, y in loader:  # the run exists and telemetry flows before the first action
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        thread.start()
        train_until(probe.done)
    else:
        paused = threading.Event()

        def pause_then_probe() -> None:
            time.sleep(1.0)
            post(f"{url}/api/v1/runs/{run_id}/actions", {"action": "pause"})
            while get(f"{url}/api/v1/runs/{run_id}/actions")["state"] != "paused":
                time.sleep(0.05)
            paused.set()
            probe.run()
            post(f"{url}/api/v1/runs/{run_id}/actions", {"action": "resume"})

        thread = threading.Thread(target=pause_then_probe)
        thread.start()
        train_until(probe.done)
        # One more step takes the resume if it has not arrived yet.
        for x, y in loader:
            observer.step(model, x, y)
            break
    thread.join()
    observer.finish()
    log = get(f"{url}/api/v1/runs/{run_id}/actions")["actions"]
    return probe.latencies, log


def row(name: str, latencies: list[float]) -> str:
    ms = sorted(1000 * x for x in latencies)
    p50 = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"| {name} | {len(ms)} | {p50:.0f} | {p95:.0f} | {max(ms):.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actions", type=int, default=60, help="actions per situation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_atlasd(Path(tmp))
        try:
            results = {s: measure(url, tmp, s, args.actions) for s in ("training", "idle")}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("| situation | actions | p50 (ms) | p95 (ms) | max (ms) |")
    print("|---|--:|--:|--:|--:|")
    for situation, (latencies, _) in results.items():
        print(row(situation, latencies))
    # The server's share: from the POST being stored to the action leaving in a reply.
    print()
    print("| situation | server: created -> delivered p50 (ms) | p95 (ms) |")
    print("|---|--:|--:|")
    for situation, (_, log) in results.items():
        waits = sorted(
            1000 * (a["delivered_at"] - a["created_at"])
            for a in log
            if a["action"] == "adjust" and a["delivered_at"] is not None
        )
        p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
        print(f"| {situation} | {statistics.median(waits):.0f} | {p95:.0f} |")


if __name__ == "__main__":
    main()
