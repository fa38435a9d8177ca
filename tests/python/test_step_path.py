"""The per-step path: the fast path of observer.step() (steps between layer-health samples and
profiler windows, timed and recorded by libatlas's StepRecorder and optimizer hooks) writes the
same step records as the full path, and hands over to it where a sample, a window or a device
value needs Python."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, DigitsCNN, digits_loader, step_series

from atlas_observatory import Observer, ObserverConfig, modelinfo

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
    # Resources on every step (by default at most every 0.1 s: see the next test).
    config = ObserverConfig(
        server_url=atlasd.url, spool_dir=spool_dir, layer_health_every=20, system_interval_s=0
    )
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


def test_resources_are_read_once_per_interval_and_epoch(atlasd: Atlasd, spool_dir: str) -> None:
    """RSS and CPU use change slowly: with an interval longer than the run they are read on
    the first step of each epoch only (the C++ unit test times the interval itself)."""
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, system_interval_s=3600)
    observer = Observer(project="steps", run_name="sparse", config=config, run_id="sparse")
    _train(observer, 12)
    observer.end_epoch()
    _train(observer, 12)
    observer.end_epoch()
    observer.finish()
    for field in ("rss_bytes", "cpu_percent"):
        assert sorted(_series(atlasd, "sparse", field)) == [0, 12], field
    assert sorted(_series(atlasd, "sparse", "loss")) == list(range(24))


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


def _recorder() -> Any:
    from atlas_observatory import _atlas

    recorder = _atlas.StepRecorder()
    recorder.set_tensor_types(torch.Tensor, torch.bool, torch.float32, torch.float64)
    return recorder


class _TensorSubclass(torch.Tensor):
    pass


_BATCHES = {
    "images": torch.zeros(8, 1, 4, 4),
    "token ids": torch.zeros(4, 16, dtype=torch.long),
    "int32 ids of 3 dims": torch.zeros(2, 3, 5, dtype=torch.int32),
    "uint8 pixels": torch.zeros(4, 28, 28, dtype=torch.uint8),
    "bool masks": torch.zeros(4, 16, dtype=torch.bool),
    "complex": torch.zeros(4, 2, dtype=torch.complex64),
    "one dimension": torch.zeros(5, dtype=torch.long),
    "a scalar": torch.tensor(3),
    "empty": torch.zeros(0, 7, dtype=torch.long),
    "non-contiguous": torch.zeros(6, 4, dtype=torch.long).t(),
}


@pytest.mark.parametrize("name", list(_BATCHES))
def test_libatlas_reads_a_tensor_batch_as_python_does(name: str) -> None:
    """The fast step's end (recorder.leave) reads the loss and the batch's counts in C++; for
    every batch it accepts it must read what modelinfo.batch_counts reads."""
    from atlas_observatory.modelinfo import batch_counts

    batch = _BATCHES[name]
    recorder = _recorder()
    loss = torch.tensor(0.25, requires_grad=True) * 2
    assert recorder.leave(7, 1, loss, batch) is True
    step, epoch, _, fields = recorder.close_fields()
    samples, tokens = batch_counts(batch)
    assert (step, epoch, fields["loss"]) == (7, 1, 0.5)
    assert fields.get("samples") == samples
    assert fields.get("tokens") == tokens
    assert recorder.take_noise_samples() == (samples or 0)


_LOSSES = {
    "float32": torch.tensor(0.1, requires_grad=True) * 3,
    "float64": torch.tensor(0.1, dtype=torch.float64) * 3,
    "bfloat16": torch.tensor(0.1, dtype=torch.bfloat16),
    "float16": torch.tensor(0.1, dtype=torch.float16),
    "one element": torch.tensor([0.3]),
    "a view at an offset": torch.tensor([1.0, 2.5, 4.0])[1],
    "non-finite": torch.tensor(float("nan")),
}


@pytest.mark.parametrize("name", list(_LOSSES))
def test_libatlas_reads_a_cpu_loss_as_item_does(name: str) -> None:
    loss = _LOSSES[name]
    recorder = _recorder()
    assert recorder.leave(0, 0, loss, torch.zeros(2, 3)) is True
    value = recorder.close_fields()[3]["loss"]
    expected = loss.item()
    assert value == expected or (math.isnan(value) and math.isnan(expected))


@pytest.mark.parametrize(
    ("loss", "batch"),
    [
        (0.5, torch.zeros(4, 2)),  # a Python number: _host_value reads it
        (torch.tensor(0.5), (torch.zeros(4, 2), torch.zeros(4))),  # a tuple batch
        (torch.tensor(0.5), {"x": torch.zeros(4, 2)}),  # a dict batch
        (torch.tensor(0.5), torch.zeros(4, 2).as_subclass(_TensorSubclass)),
        (torch.tensor(0.5).as_subclass(_TensorSubclass), torch.zeros(4, 2)),
    ],
)
def test_libatlas_declines_what_python_must_read(loss: Any, batch: Any) -> None:
    recorder = _recorder()
    assert recorder.leave(3, 0, loss, batch) is False
    assert recorder.open is False  # nothing recorded: the Python path records the step
    assert recorder.take_noise_samples() == 0


@pytest.mark.parametrize(
    "loss",
    [torch.tensor([0.5, 0.25]), torch.tensor(0.5, device="meta")],
    ids=["two elements", "not on the CPU"],
)
def test_a_loss_libatlas_cannot_read_costs_its_field_only(loss: torch.Tensor) -> None:
    """A loss tensor waits to be read with other steps' losses (DeferredLosses); one that is
    no CPU scalar and that item() cannot read either leaves its record without a loss, with
    the error kept for the Observer, and the run's later losses are read by Python's readers
    (which never synchronise a device)."""
    recorder = _recorder()
    assert recorder.leave(3, 0, loss, torch.zeros(4, 2)) is True
    step, _, _, fields = recorder.close_fields()
    assert step == 3
    assert "loss" not in fields
    assert fields["samples"] == 4
    [(site, error)] = recorder.take_errors()
    assert site == "step.loss"
    assert isinstance(error, Exception)
    assert recorder.leave(4, 0, loss, torch.zeros(4, 2)) is False


def _offline_client(tmp_path: Any) -> Any:
    from atlas_observatory import _atlas

    config = _atlas.ClientConfig()
    config.project = "steps"
    config.offline = True
    config.spool_dir = str(tmp_path)
    return _atlas.Client.start(config)


def test_fast_step_records_wait_for_their_losses_at_most_16_steps(tmp_path: Any) -> None:
    """Fast steps' records are sent 16 at a time, their losses read together, in step order
    with nothing lost: a flush sends the waiting ones, and so does a step whose loss is already
    a number."""
    recorder = _recorder()
    client = _offline_client(tmp_path)
    recorder.set_client(client)
    recorder.set_fast_forward(
        None, False, torch.nn.functional.cross_entropy, modelinfo.split_output
    )
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    losses = []
    for step in range(40):
        _, loss, status = recorder.fast_step(model, x, y, step, 0, False)
        assert status == 0
        losses.append(loss.item())
        closed = step  # the steps before this one
        sent = client.stats()["enqueued"]
        assert closed - 16 < sent <= closed
    recorder.flush_losses()
    assert client.stats()["enqueued"] == 39
    assert recorder.close_and_send() is True
    assert client.stats()["enqueued"] == 40
    total, count = recorder.take_epoch_loss(0)
    assert count == 40
    assert total == pytest.approx(math.fsum(losses), rel=1e-6)
    client.finish("completed", "", 5.0)


def test_a_waiting_record_goes_within_half_a_second(tmp_path: Any) -> None:
    """A live view never lags by more than DeferredLosses::kMaxAge: the first fast step after
    it has passed sends the waiting records."""
    recorder = _recorder()
    client = _offline_client(tmp_path)
    recorder.set_client(client)
    recorder.set_fast_forward(
        None, False, torch.nn.functional.cross_entropy, modelinfo.split_output
    )
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for step in range(3):
        recorder.fast_step(model, x, y, step, 0, False)
    assert client.stats()["enqueued"] == 0  # steps 0 and 1 wait for their losses
    time.sleep(0.6)
    recorder.fast_step(model, x, y, 3, 0, False)
    assert client.stats()["enqueued"] == 3
    client.finish("completed", "", 5.0)


def test_libatlas_declines_everything_before_it_knows_torch() -> None:
    from atlas_observatory import _atlas

    recorder = _atlas.StepRecorder()
    assert recorder.leave(0, 0, torch.tensor(0.5), torch.zeros(4, 2)) is False


def test_a_fast_step_with_a_batch_python_reads_records_it(atlasd: Atlasd, spool_dir: str) -> None:
    """A batch libatlas declines (here a list of tensors) goes through the Python readers on
    the fast path: every step still carries its loss and samples."""

    class ListInput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = DigitsCNN()

        def forward(self, batch: list[torch.Tensor]) -> torch.Tensor:
            out: torch.Tensor = self.net(batch[0])
            return out

    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, layer_health_every=20)
    observer = Observer(project="steps", run_name="list", config=config, run_id="list-batch")
    torch.manual_seed(0)
    model = ListInput()
    observer.register_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = iter(digits_loader(batch_size=32))
    losses = []
    for _ in range(30):
        x, y = next(batches)
        _, loss = observer.step(model, [x], y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
    observer.finish()
    assert _series(atlasd, "list-batch", "samples") == {step: 32.0 for step in range(30)}
    stored = _series(atlasd, "list-batch", "loss")
    assert [stored[step] for step in range(30)] == pytest.approx(losses, rel=1e-6)


class _Outputs(torch.nn.Module):
    """Returns its logits in the shape `kind` names; raises at forward call `fail_at`."""

    def __init__(self, kind: str, fail_at: int | None = None) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.kind = kind
        self.fail_at = fail_at
        self.calls = 0

    def forward(self, x: torch.Tensor, targets: torch.Tensor) -> Any:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("the model's own error")
        logits = self.linear(x)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        if self.kind == "dict":  # Hugging Face style
            return {"logits": logits, "loss": loss}
        if self.kind == "list":
            return [logits, loss]
        if self.kind == "tuple of three":  # no loss split_output recognises: loss_fn's
            return logits, loss, None
        if self.kind == "tuple with a loss of one element":
            return logits, loss.reshape(1)
        return logits, loss


@pytest.mark.parametrize(
    "kind", ["tuple", "dict", "list", "tuple of three", "tuple with a loss of one element"]
)
def test_fast_steps_take_the_loss_from_every_output_kind(kind: str, tmp_path: Any) -> None:
    """libatlas's fast step splits (logits, loss) itself and hands other outputs to Python's
    split_output; the losses match a plain loop's, step by step (full and fast steps)."""

    def loss_fn(output: Any, targets: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = torch.nn.functional.cross_entropy(output[0], targets)
        return loss

    def run(observed: bool) -> list[float]:
        torch.manual_seed(0)
        model = _Outputs(kind)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        config = ObserverConfig(
            offline=True, spool_dir=str(tmp_path), layer_health_every=4, loss_fn=loss_fn
        )
        observer = Observer(project="steps", run_name=kind, config=config)
        losses = []
        for _ in range(10):
            if observed:
                _, loss = observer.step(model, x, y)
            else:
                output = model(x, y)
                split = modelinfo.split_output(output)
                loss = split[1] if split[1] is not None else loss_fn(output, y)
                loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.item()))
        assert observer.finish()["telemetry_errors"] == {}
        return losses

    assert run(observed=True) == run(observed=False)


@pytest.mark.parametrize("fail_at", [1, 6])  # the first (full) step; a fast one
def test_a_model_error_reaches_the_loop_unchanged(fail_at: int, tmp_path: Any) -> None:
    config = ObserverConfig(offline=True, spool_dir=str(tmp_path), layer_health_every=100)
    observer = Observer(project="steps", run_name="raises", config=config)
    model = _Outputs("tuple", fail_at=fail_at)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for _ in range(fail_at - 1):
        observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    with pytest.raises(RuntimeError, match="the model's own error") as raised:
        observer.step(model, x, y)
    assert any(entry.name == "forward" for entry in raised.traceback)  # the model's frame
    assert observer.step_count == fail_at - 1
    # The loop can go on: the next steps are observed as before.
    observer.step(model, x, y)
    optimizer.step()
    assert observer.step_count == fail_at
    assert observer.finish()["telemetry_errors"] == {}


@pytest.mark.telemetry_errors
def test_a_telemetry_error_in_a_fast_step_is_contained(tmp_path: Any) -> None:
    """An error in libatlas's part of a fast step (here the energy reading, which closing the
    previous step needs) is counted and logged by the Observer and never raised into the
    loop: the losses are a plain loop's, step by step."""

    class BrokenMeter:
        def total_joules(self) -> float:
            raise OSError("the energy counter is gone")

    def run(observer: Observer | None) -> list[float]:
        torch.manual_seed(0)
        model = DigitsCNN()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        batches = iter(digits_loader(batch_size=32))
        losses = []
        for step in range(8):
            x, y = next(batches)
            if observer is None:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()  # type: ignore[no-untyped-call]
            else:
                if step == 4:
                    assert observer._fast_until > step  # the next steps take the fast path
                    observer._recorder.set_energy(BrokenMeter())
                _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.item()))
        return losses

    config = ObserverConfig(offline=True, spool_dir=str(tmp_path), layer_health_every=100)
    observer = Observer(project="steps", run_name="broken-energy", config=config)
    assert run(observer) == run(None)
    assert observer.step_count == 8
    assert observer.finish()["telemetry_errors"] == {"energy.read": 5}  # steps 4-7, finish


def test_every_waiting_loss_reaches_its_step_and_its_epoch(atlasd: Atlasd, spool_dir: str) -> None:
    """Fast steps' losses are read 16 at a time; an epoch's end, an event and finish() send the
    waiting ones first. The server gets every step's loss and each epoch's mean of them."""
    config = ObserverConfig(server_url=atlasd.url, spool_dir=spool_dir, layer_health_every=100)
    observer = Observer(project="steps", run_name="waiting", config=config, run_id="waiting-losses")
    torch.manual_seed(0)
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = iter(digits_loader(batch_size=16))
    losses: list[list[float]] = []
    for _ in range(2):  # epochs
        losses.append([])
        for _step in range(21):  # not a multiple of 16: some wait at each epoch's end
            x, y = next(batches)
            _, loss = observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses[-1].append(float(loss.item()))
        observer.end_epoch()
    observer.finish()
    flat = [value for epoch in losses for value in epoch]
    stored = _series(atlasd, "waiting-losses", "loss")
    assert [stored[step] for step in range(42)] == pytest.approx(flat, rel=1e-6)
    epochs = atlasd.get("/api/v1/runs/waiting-losses/epochs")["epochs"]
    assert [e["train"]["loss"] for e in epochs] == pytest.approx(
        [math.fsum(epoch) / len(epoch) for epoch in losses], rel=1e-6
    )
