"""Model shapes and loop styles the Observer must handle: nanoGPT-style (logits, loss), in-place
activations, shared modules and tied weights, torch.compile, log_step with AMP and gradient
accumulation, and track_step around a custom step."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from obs_helpers import (
    Atlasd,
    DigitsCNN,
    SharedMLP,
    TinyGPT,
    digits_loader,
    step_series,
    token_batches,
)
from torch import nn

from atlas_observatory import Observer, ObserverConfig


def make_observer(atlasd: Atlasd, spool_dir: str, **settings: Any) -> Observer:
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, **settings)
    return Observer(project="models", run_name="test", config=config)


def layer_samples(atlasd: Atlasd, run_id: str) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = atlasd.get(f"/api/v1/runs/{run_id}/layers")["samples"]
    return samples


def by_layer(sample: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["layer"]: entry for entry in sample["layers"]}


def test_a_nanogpt_style_model_returns_its_own_loss(atlasd: Atlasd, spool_dir: str) -> None:
    model = TinyGPT()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    observer = make_observer(atlasd, spool_dir, layer_health_every=10)
    observer.register_model(model)
    batches = token_batches(30)
    losses = []
    for x, y in batches:
        logits, loss = observer.step(model, x, y)
        assert logits.shape == (16, 8, 16)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    observer.end_epoch()
    observer.finish()
    assert losses[-1] < losses[0]  # it trains: the model's loss was the one backpropagated

    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == 30
    assert run["totals"]["tokens"] == 30 * 16 * 8  # token ids: every position is a token
    assert "tokens_per_s" in atlasd.get(f"/api/v1/runs/{run_id}/series")["series"]
    assert step_series(atlasd, run_id)["last"] == pytest.approx(losses, rel=1e-6)
    modules = {m["name"]: m for m in run["architecture"]}
    assert modules["lm_head"]["params"] == 0  # tied to wte: counted once, for wte
    assert modules["wte"]["params"] == 16 * 32
    assert modules["attn"]["output_shape"] == [16, 8, 32]
    # MultiheadAttention: q/k/v and output projections, scores and weighted sum, per sample.
    length, embed = 8, 32
    attention = 2 * (4 * length * embed * embed) + 4 * length * length * embed
    assert modules["attn"]["flops"] == pytest.approx(attention)
    assert modules["ln"]["flops"] == pytest.approx(5 * length * embed)
    samples = layer_samples(atlasd, run_id)
    assert [s["step"] for s in samples] == [0, 10, 20]
    layers = by_layer(samples[-1])
    assert "grad_norm" in layers["attn"]
    assert "grad_norm" not in layers["lm_head"]  # its weight belongs to wte
    assert "activation_mean" in layers["lm_head"]


def test_in_place_relu_trains_like_an_unobserved_model(atlasd: Atlasd, spool_dir: str) -> None:
    """Forward hooks only (no backward hooks), so ReLU(inplace=True) works and the observed
    training computes exactly what the bare loop computes."""

    def train(observer: Observer | None) -> list[float]:
        torch.manual_seed(0)
        model = DigitsCNN(inplace=True)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for x, y in digits_loader(limit=640):
            if observer is None:
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()  # type: ignore[no-untyped-call]
            else:
                _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        return losses

    observer = make_observer(atlasd, spool_dir, layer_health_every=2, track_profiler=True)
    observed = train(observer)
    observer.finish()
    assert observed == train(None)
    run_id = observer.run_id
    assert run_id is not None
    samples = layer_samples(atlasd, run_id)
    assert [s["step"] for s in samples] == list(range(0, 10, 2))
    relu = by_layer(samples[-1])["features.1"]
    assert relu["activation_mean"] >= 0  # statistics of the in-place ReLU's output
    assert 0 <= relu["dead_fraction"] <= 1


def test_shared_modules_appear_once_and_count_every_call(atlasd: Atlasd, spool_dir: str) -> None:
    model = SharedMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    observer = make_observer(atlasd, spool_dir, layer_health_every=1)
    observer.register_model(model)
    for x, y in digits_loader(limit=256):
        observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    observer.finish()
    run_id = observer.run_id
    assert run_id is not None
    modules = {m["name"]: m for m in atlasd.run(run_id)["architecture"]}
    assert "alias" not in modules  # named_modules() yields a shared module once
    assert modules["shared"]["params"] == 32 * 32 + 32
    assert modules["shared"]["flops"] == pytest.approx(2 * 2 * 32 * 32)  # called twice
    sample = by_layer(layer_samples(atlasd, run_id)[-1])
    shared = sample["shared"]
    assert len(shared["extra"]["unit_active_frac"]) == 32
    assert math.isfinite(shared["grad_norm"])


def test_a_compiled_model_keeps_working(atlasd: Atlasd, spool_dir: str) -> None:
    model = DigitsCNN()
    try:
        compiled: Any = torch.compile(model)
        compiled(torch.zeros(2, 1, 8, 8))
    except Exception as error:  # no C++ compiler or an unsupported platform
        pytest.skip(f"torch.compile is unavailable here: {type(error).__name__}: {error}")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    observer = make_observer(atlasd, spool_dir, layer_health_every=5)
    observer.register_model(compiled)
    for x, y in digits_loader(limit=640):
        observer.step(compiled, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    observer.finish()
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == 10
    modules = {m["name"]: m for m in run["architecture"]}
    assert modules[""]["type"] == "DigitsCNN"  # the original module, not the wrapper
    assert modules["features.0"]["output_shape"] == [64, 16, 8, 8]
    assert modules["features.0"]["flops"] == pytest.approx(2 * 9 * 16 * 64)
    layers = by_layer(layer_samples(atlasd, run_id)[-1])
    # Gradients and weights only: activation hooks would make torch.compile recompile.
    assert math.isfinite(layers["features.0"]["grad_norm"])
    assert "activation_mean" not in layers["features.0"]


def test_log_step_with_amp_and_gradient_accumulation(atlasd: Atlasd, spool_dir: str) -> None:
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu")
    observer = make_observer(atlasd, spool_dir, layer_health_every=2)
    observer.register_model(model)
    accumulation = 2
    micro_batches = list(digits_loader(batch_size=32, limit=32 * 16))
    logged = []
    for index in range(0, len(micro_batches), accumulation):
        total = torch.zeros(())
        for x, y in micro_batches[index : index + accumulation]:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = nn.functional.cross_entropy(model(x), y) / accumulation
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            total += loss.detach().float()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        observer.log_step(
            loss=total, batch_size=32 * accumulation, grad_scale=scaler.get_scale(), lr=0.05
        )
        logged.append(total.item())
    observer.finish()
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == 8
    assert run["totals"]["samples"] == 8 * 64
    assert step_series(atlasd, run_id)["last"] == pytest.approx(logged, rel=1e-6)
    series = atlasd.get(f"/api/v1/runs/{run_id}/series")["series"]
    assert {"grad_scale", "optimizer_ms", "step_ms", "lr"} <= set(series)
    samples = layer_samples(atlasd, run_id)
    assert [s["step"] for s in samples] == [0, 2, 4, 6]
    conv = by_layer(samples[1])["features.0"]
    # Armed in advance, so the forwards of the step were seen; gradients read before the
    # optimizer step (unscaled by the GradScaler), the update measured after it.
    assert conv["activation_std"] > 0
    assert math.isfinite(conv["grad_norm"])
    assert conv["grad_norm"] > 0
    assert 0 < conv["update_ratio"] < 1


def test_track_step_around_a_custom_step(atlasd: Atlasd, spool_dir: str) -> None:
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    observer = make_observer(atlasd, spool_dir, layer_health_every=3)
    observer.register_model(model)
    for x, y in digits_loader(limit=64 * 9):
        with observer.track_step(batch_size=len(y)) as s:
            logits = model(x)
            ce = nn.functional.cross_entropy(logits, y)
            penalty = 1e-4 * torch.stack([p.pow(2).sum() for p in model.parameters()]).sum()
            loss = ce + penalty
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            s.loss = loss
            s.metrics["cross_entropy"] = ce.detach()
            s.metrics["penalty"] = float(penalty.detach())
    observer.end_epoch(val_accuracy=0.5)
    observer.finish()
    run_id = observer.run_id
    assert run_id is not None
    run = atlasd.run(run_id)
    assert run["totals"]["step_records"] == 9
    series = atlasd.get(f"/api/v1/runs/{run_id}/series")["series"]
    assert {"cross_entropy", "penalty", "data_ms", "step_ms", "samples_per_s"} <= set(series)
    modules = {m["name"]: m for m in run["architecture"]}
    assert modules["features.0"]["flops"] == pytest.approx(2 * 9 * 16 * 64)  # by formula
    samples = layer_samples(atlasd, run_id)
    assert [s["step"] for s in samples] == [0, 3, 6]
    assert by_layer(samples[0])["classifier.1"]["activation_std"] > 0


def test_epochs_iterator_ends_each_epoch(atlasd: Atlasd, spool_dir: str) -> None:
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    observer = make_observer(atlasd, spool_dir, track_layer_health=False)
    seen = []
    with observer:
        for epoch in observer.epochs(3):
            seen.append(epoch)
            for x, y in digits_loader(limit=128):
                observer.step(model, x, y)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if epoch == 1:
                observer.end_epoch(val_accuracy=0.75, train_accuracy=0.8)
    assert seen == [0, 1, 2]
    run_id = observer.run_id
    assert run_id is not None
    epochs = atlasd.get(f"/api/v1/runs/{run_id}/epochs")["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert epochs[1]["val"] == {"accuracy": 0.75}
    assert epochs[1]["train"]["accuracy"] == 0.8
    assert "loss" in epochs[1]["train"]  # the mean step loss, since none was given
    assert atlasd.run(run_id)["status"] == "completed"
