"""The pitch's snippet, run as written against a real atlasd: every record kind must arrive."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, DigitsCNN, digits_loader, step_series
from torch import nn

from atlas_observatory import Observer, ObserverConfig


def evaluate(model: nn.Module, loader: Any) -> tuple[float, float]:
    model.eval()
    total = correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    model.train()
    return loss_sum / total, correct / total


def test_the_pitch_snippet_streams_every_record_kind(
    atlasd: Atlasd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_URL", atlasd.url)  # the snippet relies on the default server
    monkeypatch.setenv("HOME", str(tmp_path))  # and on the default spool directory
    device = "cpu"
    model = DigitsCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    train_loader = digits_loader(batch_size=64)
    val_loader = digits_loader(batch_size=256, limit=512)
    num_epochs = 4  # 116 steps: two layer-health samples at the default cadence (100)
    losses: list[float] = []

    # --- the pitch, verbatim but for the validation pass it leaves to the reader ---
    config = ObserverConfig(
        track_profiler=True,
        track_memory=True,
        track_throughput=True,
        track_layer_health=True,
        track_sustainability=True,
        track_carbon_emissions=True,
    )
    observer = Observer(project_id=1, run_name="my-run", config=config)
    observer.log_hyperparameters(
        {"batch_size": 64, "num_epochs": 10, "learning_rate": 3e-4, "optimizer": "Adam"}
    )
    observer.register_model(model)
    for _epoch in range(num_epochs):
        for _step, (x, y) in enumerate(train_loader):
            x, y = x.to(device), y.to(device)
            logits, loss = observer.step(model, x, y)  # noqa: RUF059 - the pitch's words
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        val_loss, val_acc = evaluate(model, val_loader)
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)
    stats = observer.finish()
    # ---

    steps = len(losses)
    assert steps == num_epochs * math.ceil(1797 / 64)
    assert stats["telemetry_errors"] == {}
    assert stats["client"]["dropped"] == 0
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["status"] == "completed"
    assert run["name"] == "my-run"
    assert run["project_id"] == 1

    # steps: every one, exactly once, with the loss the training loop saw
    assert run["totals"]["step_records"] == steps
    assert run["totals"]["last_step"] == steps - 1
    assert run["totals"]["samples"] == num_epochs * 1797
    series = step_series(atlasd, run_id)
    assert series["points_in_range"] == steps
    assert series["x"] == list(range(steps))
    assert series["last"] == pytest.approx(losses, rel=1e-6)
    names = atlasd.get(f"/api/v1/runs/{run_id}/series")["series"]
    for field in (
        "loss",
        "samples",
        "data_ms",
        "forward_ms",
        "backward_ms",
        "optimizer_ms",
        "step_ms",
        "samples_per_s",
        "rss_bytes",
        "cpu_percent",
        "lr",
    ):
        assert field in names
    assert step_series(atlasd, run_id, "lr")["last"][0] == pytest.approx(3e-4)

    # epochs: the val metrics given, the train loss from the steps
    epochs = atlasd.get(f"/api/v1/runs/{run_id}/epochs")["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(num_epochs))
    per_epoch = steps // num_epochs
    assert epochs[0]["train"]["loss"] == pytest.approx(sum(losses[:per_epoch]) / per_epoch)
    assert set(epochs[1]["val"]) == {"loss", "accuracy"}
    assert epochs[1]["duration_s"] > 0

    # hyperparameters and the run's config
    assert run["hyperparameters"]["optimizer"] == "Adam"
    assert run["config"]["energy"]["carbon_price_eur_per_t"] == 50.0
    assert run["framework"]["torch"] == torch.__version__

    # architecture: the module tree with shapes and FLOPs
    modules = {m["name"]: m for m in run["architecture"]}
    assert list(modules) == [name for name, _ in model.named_modules()]
    assert modules[""]["input_shape"] == [64, 1, 8, 8]
    assert modules[""]["output_shape"] == [64, 10]
    conv = modules["features.0"]
    assert conv["params"] == 16 * 1 * 9 + 16
    assert conv["output_shape"] == [64, 16, 8, 8]
    assert conv["flops"] == pytest.approx(2 * 1 * 9 * 16 * 8 * 8)
    assert modules["classifier.1"]["flops"] == pytest.approx(2 * 512 * 64)
    assert modules["features.4"]["flops"] == pytest.approx(5 * 32 * 4 * 4)  # batch norm
    assert modules[""]["flops"] == pytest.approx(
        sum(m["flops"] for name, m in modules.items() if name.count(".") == 1)
    )

    # layer stats at steps 0, 100 (layer_health_every=100)
    samples = atlasd.get(f"/api/v1/runs/{run_id}/layers")["samples"]
    assert [s["step"] for s in samples] == [0, 100]
    layers = {entry["layer"]: entry for entry in samples[1]["layers"]}
    conv_stats = layers["features.0"]
    for stat in (
        "activation_mean",
        "activation_std",
        "grad_norm",
        "weight_norm",
        "update_ratio",
        "weight_sparsity",
        "dead_fraction",
    ):
        assert math.isfinite(conv_stats[stat])
    assert 0 < conv_stats["update_ratio"] < 1
    assert len(conv_stats["extra"]["unit_active_frac"]) == 16
    assert "saturated_fraction" in layers["classifier.2"]  # the Tanh
    assert "grad_norm" not in layers["features.1"]  # a ReLU owns no parameters

    # a profiler window, with phases and operators
    profiles = atlasd.get(f"/api/v1/runs/{run_id}/profiles")["profiles"]
    assert len(profiles) == 1
    data = profiles[0]["data"]
    assert data["window_steps"] == 3
    assert set(data["phases"]) == {"forward", "backward", "optimizer"}
    assert {m["name"] for m in data["modules"]} == {"features", "classifier"}
    assert any(op["name"].startswith("aten::") for op in data["top_ops"])

    # the finish record, with the client's accounting
    assert run["client_stats"]["dropped_total"] == 0
    assert run["client_stats"]["enqueued"] > steps
