"""Faults the Observer must survive without touching the training: its own bugs, bad servers,
a server killed mid-run, no server at all, and a spool that cannot take what it is given."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from obs_helpers import (
    Atlasd,
    DigitsCNN,
    GarbageServer,
    HangingServer,
    closed_port_url,
    digits_loader,
    step_series,
    wait_until,
)
from torch import nn

import atlas_observatory
from atlas_observatory import Observer, ObserverConfig, drain_captured
from atlas_observatory import observer as observer_module
from atlas_observatory.layer_health import LayerHealth


def train(observer: Observer | None, limit: int = 640, epochs: int = 1) -> list[float]:
    """A deterministic training run, observed or not; returns the losses it computed."""
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(epochs):
        for x, y in digits_loader(limit=limit):
            if observer is None:
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()  # type: ignore[no-untyped-call]
            else:
                _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        if observer is not None:
            observer.end_epoch()
    return losses


def finish_in_thread(observer: Observer) -> dict[str, Any]:
    """finish() under a watchdog: a finish that never returned would hang the suite."""
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(observer.finish()), daemon=True)
    thread.start()
    thread.join(timeout=120)  # a safety limit, far above the configured timeouts
    assert not thread.is_alive(), "finish() did not return"
    return result


@pytest.mark.telemetry_errors
def test_a_collector_that_raises_is_contained_counted_logged_once_and_reported(
    atlasd: Atlasd,
    spool_dir: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("a bug in a collector")

    monkeypatch.setattr(LayerHealth, "_accumulate", broken)
    # The optimizer hook's reading of the learning rate: a Python collector of every step.
    monkeypatch.setattr(observer_module, "learning_rate", broken)
    caplog.set_level(logging.WARNING, logger="atlas_observatory")
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, layer_health_every=1)
    observer = Observer(project="faults", run_name="collector", config=config)
    losses = train(observer)
    stats = observer.finish()
    assert losses == train(None)  # the training itself is untouched

    steps = len(losses)
    hooked_layers = 9  # every leaf of DigitsCNN but Flatten, once per forward
    assert stats["telemetry_errors"]["layer_health.activations"] == steps * hooked_layers
    assert stats["telemetry_errors"]["optimizer.lr"] == steps
    captured = drain_captured()
    assert {c.site for c in captured} == {"layer_health.activations", "optimizer.lr"}
    assert all(str(c.error) == "a bug in a collector" for c in captured)
    logged = [r for r in caplog.records if "a bug in a collector" in r.getMessage()]
    assert len(logged) == 2  # once per site

    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == steps  # step records lost only the broken fields
    series = atlasd.get(f"/api/v1/runs/{run_id}/series")["series"]
    assert "lr" not in series
    assert "rss_bytes" in series  # the other fields of the step are still there
    events = atlasd.get(f"/api/v1/runs/{run_id}/events?type=telemetry_error")["events"]
    # Reported the 1st and 10th time per site (then at 100, 1000, ...).
    counts = sorted((e["data"]["site"], e["data"]["count"]) for e in events)
    assert counts == [
        ("layer_health.activations", 1),
        ("layer_health.activations", 10),
        ("optimizer.lr", 1),
        ("optimizer.lr", 10),
    ]
    assert "RuntimeError: a bug in a collector" in events[0]["data"]["traceback"]
    summary = atlasd.get(f"/api/v1/runs/{run_id}/events?type=telemetry_errors")["events"]
    assert summary[0]["data"]["counts"] == stats["telemetry_errors"]
    # Layer samples still arrive, with gradients and weights but no activation statistics.
    layers = atlasd.get(f"/api/v1/runs/{run_id}/layers")["samples"][0]["layers"]
    conv = next(entry for entry in layers if entry["layer"] == "features.0")
    assert "grad_norm" in conv
    assert "activation_mean" not in conv


def test_a_server_answering_garbage_does_not_touch_training(spool_dir: str) -> None:
    with GarbageServer() as server:
        config = ObserverConfig(
            server_url=server.url,
            spool_dir=spool_dir,
            backoff_base_s=0.01,
            backoff_cap_s=0.05,
            finish_timeout_s=5,
        )
        observer = Observer(project_id=3, run_name="garbage", config=config)
        losses = train(observer)
        stats = finish_in_thread(observer)
        assert server.requests > 0
    assert losses == train(None)
    assert stats["telemetry_errors"] == {}
    client = stats["client"]
    assert client["retries"] > 0  # the 500s are retried (the records wait in the spool)...
    assert client["dropped"] == 0  # ...and a 200 whose body is not JSON is a delivery


def test_a_hanging_server_makes_finish_return_by_its_timeout(
    atlasd: Atlasd, spool_dir: str
) -> None:
    with HangingServer() as server:
        config = ObserverConfig(
            server_url=server.url,
            spool_dir=spool_dir,
            request_timeout_s=0.5,
            finish_timeout_s=1.0,
        )
        observer = Observer(project_id=4, run_name="hanging", config=config)
        losses = train(observer, limit=256)
        stats = finish_in_thread(observer)
    assert losses == train(None, limit=256)
    assert stats["telemetry_errors"] == {}
    assert stats["client"]["dropped"] == 0
    # Nothing was lost: what could not be sent is in the spool, and uploads later.
    reports = atlas_observatory.sync(stats["spool_path"], atlasd.url)
    assert reports[0]["records_rejected"] == 0
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == len(losses)
    assert run["status"] == "completed"


def test_atlasd_killed_mid_run_then_restarted_stores_every_step_once(
    atlasd: Atlasd, spool_dir: str
) -> None:
    config = ObserverConfig(
        server_url=atlasd.url,
        spool_dir=spool_dir,
        run_id="killed-mid-run",
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        layer_health_every=10,
    )
    observer = Observer(project="faults", run_name="sigkill", config=config)
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    losses: list[float] = []

    def epoch() -> None:
        for x, y in digits_loader(limit=640):
            _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        observer.end_epoch()

    epoch()
    wait_until(lambda: atlasd.step_records("killed-mid-run") > 0, what="the first steps")
    atlasd.stop(signal.SIGKILL)
    epoch()  # the server is gone: these records go to the spool
    epoch()
    observer.flush(timeout_s=30)
    assert observer.stats()["client"]["spooled"] > 0
    atlasd.start()  # the same port and data directory
    epoch()
    # The sender replays the spool once its backoff (at most 0.2 s) has passed.
    wait_until(
        lambda: atlasd.step_records("killed-mid-run") >= 3 * 10,
        what="the spool to be replayed",
    )
    epoch()
    stats = observer.finish()
    assert stats["client"]["dropped"] == 0
    assert stats["client"]["spooled"] > 0
    run = atlasd.run("killed-mid-run")
    steps = len(losses)
    assert run["totals"]["step_records"] == steps
    assert run["totals"]["epochs"] == 5
    series = step_series(atlasd, "killed-mid-run")
    assert series["points_in_range"] == steps
    assert series["x"] == list(range(steps))
    assert series["last"] == pytest.approx(losses, rel=1e-6)
    assert run["status"] == "completed"


def test_no_server_from_the_start_then_sync_stores_everything(
    tmp_path: Path, spool_dir: str
) -> None:
    config = ObserverConfig(server_url=closed_port_url(), spool_dir=spool_dir, layer_health_every=5)
    observer = Observer(project="faults", run_name="offline-by-accident", config=config)
    losses = train(observer, epochs=2)
    stats = observer.finish()
    assert losses == train(None, epochs=2)
    assert stats["client"]["sent"] == 0
    assert stats["client"]["dropped"] == 0
    assert atlas_observatory.spool_files(spool_dir) == [stats["spool_path"]]

    server = Atlasd(tmp_path / "later").start()
    try:
        reports = atlas_observatory.sync(spool_dir, server.url)
        assert len(reports) == 1
        assert reports[0]["removed"] is True
        assert reports[0]["records_rejected"] == 0
        run_id = observer.run_id
        assert run_id is not None
        run = server.run(run_id)
        assert run["totals"]["step_records"] == len(losses)
        assert run["totals"]["epochs"] == 2
        assert run["totals"]["layer_samples"] == 4  # steps 0, 5 of each 10-step epoch
        assert run["status"] == "completed"
        assert step_series(server, run_id)["last"] == pytest.approx(losses, rel=1e-6)
        # Syncing again is harmless: the file is gone, nothing is left to send.
        assert atlas_observatory.spool_files(spool_dir) == []
    finally:
        server.stop()


def test_offline_mode_spools_everything_for_later(tmp_path: Path, spool_dir: str) -> None:
    config = ObserverConfig(offline=True, spool_dir=spool_dir)
    with Observer(project="faults", run_name="offline", config=config) as observer:
        losses = train(observer)
    stats = observer.stats()
    assert stats["client"]["requests"] == 0
    server = Atlasd(tmp_path / "later").start()
    try:
        atlas_observatory.sync(stats["spool_path"], server.url)
        run_id = observer.run_id
        assert run_id is not None
        assert server.run(run_id)["totals"]["step_records"] == len(losses)
    finally:
        server.stop()


@pytest.mark.parametrize("problem", ["unwritable", "full"])
def test_a_spool_that_cannot_take_records_counts_drops(tmp_path: Path, problem: str) -> None:
    if problem == "unwritable":
        # A directory below a regular file cannot be created, even by root (which ignores
        # permission bits, so a read-only directory would not do).
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        spool = str(blocker / "spool")
        max_bytes = 256 << 20
    else:
        spool = str(tmp_path / "tiny")
        max_bytes = 512
    config = ObserverConfig(
        server_url=closed_port_url(), spool_dir=spool, spool_max_bytes=max_bytes
    )
    observer = Observer(project="faults", run_name=problem, config=config)
    losses = train(observer)
    stats = observer.finish()
    assert losses == train(None)
    reason = "spool_error" if problem == "unwritable" else "spool_full"
    client = stats["client"]
    assert client["dropped_by_reason"][reason] > 0
    assert client["dropped"] == client["enqueued"] + 1 - client["spooled"]  # + the finish
    assert stats["telemetry_errors"] == {}


@pytest.mark.telemetry_errors
def test_a_set_up_failure_degrades_to_a_no_op_that_still_trains(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="atlas_observatory")
    config = ObserverConfig(run_id="not a valid id!", offline=True)
    observer = Observer(project_id=1, run_name="broken", config=config)
    assert not observer.enabled
    assert observer.run_id is None
    model = DigitsCNN()
    observer.register_model(model)
    observer.log_hyperparameters({"lr": 0.1})
    losses = train(observer)
    observer.log_step(loss=1.0)
    observer.end_epoch(val_loss=1.0)
    assert losses == train(None)
    assert observer.finish()["enabled"] is False
    captured = drain_captured()
    assert [c.site for c in captured] == ["observer.start"]
    assert isinstance(captured[0].error, atlas_observatory.InvalidArgumentError)
    said = [r for r in caplog.records if "could not start" in r.getMessage()]
    assert len(said) == 1


def test_config_checks_and_the_default_server_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="layer_health_every"):
        ObserverConfig(layer_health_every=0).check()
    monkeypatch.setenv("ATLAS_URL", "http://example.invalid:1")
    assert ObserverConfig().server_url == "http://example.invalid:1"
    monkeypatch.delenv("ATLAS_URL")
    assert ObserverConfig().server_url == "http://127.0.0.1:7878"
    assert os.environ.get("ATLAS_URL") is None
