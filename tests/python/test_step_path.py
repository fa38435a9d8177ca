"""The per-step path: the fast path of observer.step() (steps between layer-health samples and
profiler windows, timed and recorded by libatlas's StepRecorder and optimizer hooks) writes the
same step records as the full path, and hands over to it where a sample, a window or a device
value needs Python."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, DigitsCNN, digits_loader, step_series

from atlas_observatory import Observer, ObserverConfig

# Every field a CPU step record of observer.step() carries with ObserverConfig() defaults (the
# first step has no data_ms: there is no previous step to wait after).
_FIELDS = (
    "loss",
    "samples",
    "data_ms",
    "forward_ms",
    "backward_ms",
    "optimizer_ms",
    "step_ms",
    "samples_per_s",
    "lr",
    "rss_bytes",
    "cpu_percent",
    "energy_j",
    "power_w",
)


def _series(atlasd: Atlasd, run_id: str, field: str) -> dict[int, float]:
    data = step_series(atlasd, run_id, field)
    return dict(zip(data["x"], data["last"], strict=True))


def _train(observer: Observer, steps: int, lr: float = 0.01) -> list[float]:
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses: list[float] = []
    batches = iter(digits_loader(batch_size=32))
    for _ in range(steps):
        x, y = next(batches)
        _, loss = observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
    return losses


def test_fast_and_full_steps_write_the_same_fields(atlasd: Atlasd, spool_dir: str) -> None:
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, layer_health_every=20)
    observer = Observer(project="steps", run_name="fast", config=config, run_id="fast-path")
    full_steps: list[int] = []
    original = observer._begin_step

    def counted(model: Any, x: Any) -> Any:
        full_steps.append(observer._next_step)
        return original(model, x)

    observer._begin_step = counted  # type: ignore[method-assign]
    losses = _train(observer, 50)
    observer.end_epoch()
    observer.finish()

    # The first step and each layer-health sample's step take the full path; every other step
    # (the one after a sample too: the sample ends in the optimizer hook) the fast one.
    assert full_steps == [0, 20, 40]
    series = {field: _series(atlasd, "fast-path", field) for field in _FIELDS}
    for field, values in series.items():
        expected = set(range(1 if field == "data_ms" else 0, 50))
        assert set(values) == expected, field
        assert all(math.isfinite(v) for v in values.values()), field
    for step, loss in enumerate(losses):
        assert series["loss"][step] == loss  # the value the loop saw, exactly
    assert set(series["lr"].values()) == {0.01}
    assert all(v == 32 for v in series["samples"].values())
    for step in range(50):
        # The window holds its phases.
        parts = series["forward_ms"][step] + series["backward_ms"][step]
        assert series["step_ms"][step] >= parts + series["optimizer_ms"][step] - 1e-6
        # samples / seconds, computed from the same window (to rounding: ms vs s).
        rate = 32 / (series["step_ms"][step] / 1000)
        assert series["samples_per_s"][step] == pytest.approx(rate, rel=1e-12)
    epochs = atlasd.get("/api/v1/runs/fast-path/epochs")["epochs"]
    assert epochs[0]["train"]["loss"] == sum(losses) / len(losses)
    layers = atlasd.get("/api/v1/runs/fast-path/layers")["samples"]
    assert [sample["step"] for sample in layers] == [0, 20, 40]


def test_a_learning_rate_tensor_and_a_scheduler_are_read(atlasd: Atlasd, spool_dir: str) -> None:
    """The hooks read a plain learning rate in C++; anything else (a tensor) through Python."""
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, track_layer_health=False)
    observer = Observer(project="steps", run_name="lr", config=config, run_id="lr-tensor")
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(0.002))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    batches = iter(digits_loader(batch_size=32))
    for _ in range(12):
        x, y = next(batches)
        observer.step(model, x, y)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    observer.finish()
    lr = _series(atlasd, "lr-tensor", "lr")
    # The rate the optimizer step used, read right after it (before the scheduler moves it);
    # a float32 tensor, so to float32's precision.
    expected = [0.002] * 5 + [0.001] * 5 + [0.0005] * 2
    assert [lr[step] for step in range(12)] == pytest.approx(expected, rel=1e-6)


def test_steps_of_another_optimizer_are_not_ours(atlasd: Atlasd, spool_dir: str) -> None:
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, track_layer_health=False)
    observer = Observer(project="steps", run_name="other", config=config, run_id="other-opt")
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    unrelated = torch.nn.Linear(2, 2)
    other = torch.optim.SGD(unrelated.parameters(), lr=0.5)
    batches = iter(digits_loader(batch_size=32))
    for _ in range(6):
        x, y = next(batches)
        observer.step(model, x, y)
        unrelated(torch.randn(1, 2)).sum().backward()
        other.step()  # not the model's: neither timed nor its rate recorded
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    observer.finish()
    assert set(_series(atlasd, "other-opt", "lr").values()) == {0.01}


class _Recording(torch.nn.Module):
    """Remembers how forward was called; returns logits, or (logits, loss) when given targets."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.calls: list[str] = []

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> Any:
        logits = self.linear(x)
        if targets is None:
            self.calls.append("x")
            return logits
        self.calls.append("x, targets")
        return logits, torch.nn.functional.cross_entropy(logits, targets)


class _Positional(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> Any:
        logits = self.linear(x)
        return logits, torch.nn.functional.cross_entropy(logits, extra)


def _offline_steps(model: torch.nn.Module, passing: bool | None, tmp_path: Any) -> list[float]:
    """Fast and full steps alike (layer health every 4th step, 10 steps)."""
    config = ObserverConfig(
        offline=True, spool_dir=str(tmp_path), pass_targets=passing, layer_health_every=4
    )
    observer = Observer(project="steps", run_name="targets", config=config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    losses = []
    for _ in range(10):
        _, loss = observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
    observer.finish()
    return losses


def test_targets_reach_the_forward_as_configured(tmp_path: Any) -> None:
    named = _Recording()
    _offline_steps(named, None, tmp_path)  # decided from the signature: by keyword
    assert named.calls == ["x, targets"] * 10
    named = _Recording()
    _offline_steps(named, True, tmp_path)
    assert named.calls == ["x, targets"] * 10
    named = _Recording()
    _offline_steps(named, False, tmp_path)  # never: the loss is config.loss_fn's
    assert named.calls == ["x"] * 10
    # No parameter named for targets: pass_targets=True passes them positionally.
    assert len(_offline_steps(_Positional(), True, tmp_path)) == 10
