"""The gradient noise scale estimator (atlas_observatory/gradient_noise.py) on synthetic
gradients whose true gradient G and per-sample covariance Sigma are known, so that the true
B_simple = tr(Sigma) / |G|^2 is known.

A step of b samples gets the gradient G + e with e ~ N(0, Sigma / b) (the mean of b independent
per-sample gradients). The parameters are set up so that the shortcuts a wrong formula would
take are far off: the window's big batch (K * b = 32 samples) is well below B_simple (100), so
reading |g_big|^2 as |G|^2 overestimates |G|^2 about fourfold, and a per-step batch of 1 instead
of b would be off by b. The tolerance (15%) is several standard errors of the estimate over the
windows used, and far below those errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from atlas_observatory import _atlas
from atlas_observatory.gradient_noise import GradientNoise, NoiseScaleEstimator, in_window
from atlas_observatory.modelinfo import data_parallel_ranks

DIM = 2000
WINDOW = 8
WINDOWS = 300


def problem(seed: int, b_simple: float) -> tuple[np.ndarray, np.ndarray]:
    """G and the diagonal of Sigma with tr(Sigma) / |G|^2 = b_simple (a non-uniform Sigma)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=DIM)
    g *= 1.0 / np.linalg.norm(g)  # |G|^2 = 1
    variances = rng.uniform(0.2, 1.8, size=DIM)
    variances *= b_simple / variances.sum()  # tr(Sigma) = b_simple
    return g, variances


def step_gradient(
    rng: np.random.Generator, g: np.ndarray, variances: np.ndarray, batch: int
) -> np.ndarray:
    result: np.ndarray = g + rng.normal(size=DIM) * np.sqrt(variances / batch)
    return result


def test_in_window_takes_the_steps_that_end_at_each_sample() -> None:
    taken = [s for s in range(0, 21) if in_window(s, 10, 3)]
    assert taken == [0, 8, 9, 10, 18, 19, 20]
    # A window longer than the cadence takes every step.
    assert all(in_window(s, 4, 8) for s in range(12))


@pytest.mark.parametrize("b_simple", [100.0, 10.0])
def test_estimator_recovers_b_simple_from_window_numbers(b_simple: float) -> None:
    """The arithmetic alone: each window's |g|^2 means, computed here in numpy."""
    g, variances = problem(1, b_simple)
    rng = np.random.default_rng(2)
    batch = 4
    estimator = NoiseScaleEstimator(smoothing=0.99)
    big_total = 0.0
    for _ in range(WINDOWS):
        grads = [step_gradient(rng, g, variances, batch) for _ in range(WINDOW)]
        small = float(np.mean([np.dot(x, x) for x in grads]))
        mean = np.mean(grads, axis=0)
        big_total += float(np.dot(mean, mean))
        assert estimator.add_window(small, 1.0 / batch, float(np.dot(mean, mean)), WINDOW * batch)
    reading = estimator.reading()
    assert reading is not None
    assert reading.noise_scale == pytest.approx(b_simple, rel=0.15)
    assert reading.grad_sq == pytest.approx(1.0, rel=0.15)
    assert reading.trace_sigma == pytest.approx(b_simple, rel=0.15)
    assert reading.batch_size == batch
    # Taking the big batch's |g|^2 as |G|^2 (no correction for its own noise) is far off when
    # the big batch is below B_simple: this is the mistake the tolerance must catch.
    naive = reading.trace_sigma / (big_total / WINDOWS)
    if b_simple > WINDOW * batch:
        assert naive < 0.5 * b_simple


def test_gradient_noise_recovers_b_simple_from_parameter_gradients() -> None:
    """The whole path: gradients set on parameters, steps of varying batch size (a short last
    batch), buffers reused from window to window, the one transfer per window."""
    b_simple = 100.0
    g, variances = problem(3, b_simple)
    rng = np.random.default_rng(4)
    # Two parameters of different shapes share the vector.
    first = torch.nn.Parameter(torch.zeros(DIM // 2))
    second = torch.nn.Parameter(torch.zeros(DIM // 4, 2))
    noise = GradientNoise([first, second], smoothing=0.99)
    reading = None
    for window in range(WINDOWS):
        for step in range(WINDOW):
            batch = 2 if step == WINDOW - 1 and window % 2 else 4
            vector = torch.tensor(step_gradient(rng, g, variances, batch), dtype=torch.float32)
            first.grad = vector[: DIM // 2].clone()
            second.grad = vector[DIM // 2 :].reshape(DIM // 4, 2).clone()
            noise.observe(batch)
        reading = noise.end_window()
    assert reading is not None
    assert reading.windows == WINDOWS
    assert reading.noise_scale == pytest.approx(b_simple, rel=0.15)
    assert reading.grad_sq == pytest.approx(1.0, rel=0.15)
    extra = reading.extra()
    assert extra["gradient_noise_scale"] == reading.noise_scale
    assert set(extra) >= {"gns_grad_sq", "gns_trace_sigma", "gns_batch_size"}


def test_batch_size_weighting_matters() -> None:
    """Declaring each step's batch as 1 sample instead of 4 changes the estimate fourfold: the
    batch size the observer passes is part of the result."""
    g, variances = problem(5, 50.0)

    def estimate(declared: int) -> float:
        rng = np.random.default_rng(6)
        param = torch.nn.Parameter(torch.zeros(DIM))
        noise = GradientNoise([param], smoothing=0.99)
        reading = None
        for _ in range(100):
            for _ in range(WINDOW):
                grad = step_gradient(rng, g, variances, 4)
                param.grad = torch.tensor(grad, dtype=torch.float32)
                noise.observe(declared)
            reading = noise.end_window()
        assert reading is not None
        return reading.noise_scale

    right, wrong = estimate(4), estimate(1)
    assert right == pytest.approx(50.0, rel=0.2)
    assert wrong == pytest.approx(right / 4, rel=0.05)


def test_windows_with_non_finite_gradients_are_dropped() -> None:
    param = torch.nn.Parameter(torch.zeros(10))
    noise = GradientNoise([param])
    for step in range(WINDOW):
        param.grad = torch.full((10,), math.nan if step == 3 else 1.0)
        noise.observe(4)
    assert noise.end_window() is None
    # The next window starts clean: the NaN does not linger in the reused buffer.
    rng = np.random.default_rng(7)
    for _ in range(WINDOW):
        param.grad = torch.tensor(1.0 + rng.normal(size=10), dtype=torch.float32)
        noise.observe(4)
    noise.end_window()
    assert noise.steps_in_window == 0
    assert all(torch.isfinite(b).all() for b in noise._buffers.values())


def test_a_plain_model_averages_over_one_rank() -> None:
    assert data_parallel_ranks(torch.nn.Linear(2, 2)) == 1


def test_a_window_of_one_step_gives_no_estimate() -> None:
    param = torch.nn.Parameter(torch.zeros(3))
    param.grad = torch.ones(3)
    noise = GradientNoise([param])
    noise.observe(4)
    assert noise.end_window() is None
    assert not NoiseScaleEstimator().add_window(1.0, 0.25, 1.0, 4.0)  # one batch size only


# ----- the Observer's windows, end to end (offline: the records are read as they are emitted) -----


def observed_noise(accumulate: int) -> list[dict[str, float]]:
    """Trains a regression on raw targets around 100 (every sample's gradient points the same
    way: a noise scale of ~1 sample) in batches of 32, `accumulate` micro-steps per optimizer
    step; returns the root entries' extra of the layer_stats records that carry a reading."""
    from obs_helpers import digits_dataset

    from atlas_observatory import Observer, ObserverConfig

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
    )
    config = ObserverConfig(
        offline=True,
        track_profiler=False,
        layer_health_every=5,
        gradient_noise_every=10,
        gradient_noise_window=8,
        loss_fn=lambda out, t: torch.nn.functional.mse_loss(out.squeeze(1), t),
    )
    observer = Observer(project="gns", run_name="offline", config=config)
    readings: list[dict[str, float]] = []
    emit = observer._emit_json

    def capture(kind: str, text: str) -> None:
        if kind == "layer_stats":
            for layer in json.loads(text)["layers"]:
                if layer["layer"] == "" and "gradient_noise_scale" in layer.get("extra", {}):
                    readings.append(layer["extra"])
        emit(kind, text)

    observer._emit_json = capture  # type: ignore[method-assign]
    observer.register_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4 / accumulate)
    x, labels = digits_dataset().tensors
    targets = labels.float() + 100.0
    for start in range(0, 32 * 120, 32):
        observer.step(
            model, x[start % 1760 : start % 1760 + 32], targets[start % 1760 : start % 1760 + 32]
        )
        if (start // 32 + 1) % accumulate == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    observer.finish()
    return readings


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_observer_sends_the_noise_scale_on_the_root_entry(
    accumulate: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the offline spool goes under $HOME/.atlas
    readings = observed_noise(accumulate)
    assert len(readings) >= 3
    last = readings[-1]
    assert set(last) == {
        "gradient_noise_scale",
        "gns_grad_sq",
        "gns_trace_sigma",
        "gns_batch_size",
        "gns_windows",
    }
    # Micro-steps add up to the optimizer step's batch.
    assert last["gns_batch_size"] == 32 * accumulate
    assert 0 < last["gradient_noise_scale"] < 10
    assert last["gns_trace_sigma"] == pytest.approx(
        last["gradient_noise_scale"] * last["gns_grad_sq"]
    )


def test_only_the_parameters_an_optimizer_updates_are_measured(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body that gets gradients but is in no optimizer does not train: its gradients are not
    part of the noise scale."""
    from atlas_observatory import Observer, ObserverConfig

    monkeypatch.setenv("HOME", str(tmp_path))
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    observer = Observer(project="gns", run_name="head-only", config=ObserverConfig(offline=True))
    observer.register_model(model)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.1)
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    for _ in range(3):
        observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    noise = observer._noise
    assert noise is not None
    assert [id(p) for p in noise._params] == [id(p) for p in model[2].parameters()]
    observer.finish()


# ----- the CPU kernel (_atlas.noise_accumulate) against the torch path -----


@pytest.mark.parametrize("size", [1, 7, 8, 4099, 9000])
def test_noise_accumulate_adds_scaled_gradients_and_returns_their_squared_norm(size: int) -> None:
    """Sizes below, at and past one vector (8 lanes) and one fold (4096 values): the partial
    tails too. `reset` starts a sum (its old contents are not read), otherwise it adds."""
    rng = np.random.default_rng(size)
    grads = [torch.tensor(rng.normal(size=size), dtype=torch.float32) for _ in range(2)]
    sums = [torch.full((size,), 3.0), torch.tensor(rng.normal(size=size), dtype=torch.float32)]
    before = sums[1].clone()
    squared = _atlas.noise_accumulate(grads, sums, 2.5, [True, False])
    expected = sum(float((g.double() ** 2).sum()) for g in grads)
    assert squared == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(sums[0], 2.5 * grads[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(sums[1], before + 2.5 * grads[1], rtol=1e-6, atol=1e-6)
    # Without reset flags nothing starts: both sums are added to.
    again = _atlas.noise_accumulate(grads, sums, 1.0)
    assert again == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(sums[0], 3.5 * grads[0], rtol=1e-6, atol=1e-6)


def test_noise_accumulate_rejects_mismatched_arguments() -> None:
    grad, other = torch.ones(4), torch.ones(5)
    with pytest.raises(ValueError, match="differs in size"):
        _atlas.noise_accumulate([grad], [other], 1.0)
    with pytest.raises(ValueError, match="one entry each"):
        _atlas.noise_accumulate([grad], [], 1.0)
    # A sum of another dtype or layout would be converted to a copy and the result lost.
    for sums in (torch.zeros(4, dtype=torch.float64), torch.zeros(8)[::2]):
        with pytest.raises(TypeError):
            _atlas.noise_accumulate([grad], [sums], 1.0)
        assert not sums.any()
    # A gradient of another dtype or layout is read through a converted copy.
    sums = torch.zeros(4)
    assert _atlas.noise_accumulate([torch.arange(4.0, dtype=torch.float64)], [sums], 2.0) == 14.0
    assert sums.tolist() == [0.0, 2.0, 4.0, 6.0]


def run_windows(
    grads_of_step: Sequence[Sequence[torch.Tensor | None]], batches: list[int], window: int
) -> tuple[GradientNoise, list[Any]]:
    """Feeds the steps' gradients (None: the parameter had none that step) through one
    GradientNoise, `window` steps per window; returns it and each window's reading."""
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads_of_step[0] if g is not None]
    noise = GradientNoise(params)
    readings: list[Any] = []
    for index, (grads, batch) in enumerate(zip(grads_of_step, batches, strict=True)):
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad
        noise.observe(batch)
        if index % window == window - 1:
            readings.append(noise.end_window())
    return noise, readings


def test_the_cpu_kernel_and_torch_give_the_same_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same steps (batches of several sizes, a parameter without a gradient at some steps)
    through the kernel and through the torch path (forced): the same readings, window by
    window."""
    rng = np.random.default_rng(11)
    steps, batches = [], []
    for step in range(6 * WINDOW):
        first = torch.tensor(rng.normal(size=(30, 7)) + 0.3, dtype=torch.float32)
        second = torch.tensor(rng.normal(size=4097) - 0.1, dtype=torch.float32)
        steps.append([first, None if step % 5 == 2 else second])
        batches.append(2 + step % 3)
    taken: list[bool] = []  # the one-call step of a CPU window: taken, or left to the general path
    every_gradient = GradientNoise._add_every_gradient

    def counted(self: GradientNoise, sums: list[Any], batch: float) -> bool:
        taken.append(every_gradient(self, sums, batch))
        return taken[-1]

    monkeypatch.setattr(GradientNoise, "_add_every_gradient", counted)
    noise, on_host = run_windows(steps, batches, WINDOW)
    assert noise._on_host  # the kernel was used
    assert True in taken  # for whole steps in one call,
    assert False in taken  # and the steps with a parameter without gradient went the long way
    monkeypatch.setattr("atlas_observatory.gradient_noise._kernel_can_read", lambda _grad: False)
    noise, with_torch = run_windows(steps, batches, WINDOW)
    assert not noise._on_host
    assert len(on_host) == len(with_torch) == 6
    for kernel, torch_path in zip(on_host, with_torch, strict=True):
        assert (kernel is None) == (torch_path is None)
        if kernel is not None:
            assert kernel.windows == torch_path.windows
            for name, value in kernel.extra().items():
                assert value == pytest.approx(torch_path.extra()[name], rel=1e-4), name


def test_gradients_the_kernel_cannot_read_take_the_torch_path() -> None:
    """A transposed (non-contiguous) gradient at a window's first step: the window is added up
    with torch, with the kernel's result on the same values."""
    rng = np.random.default_rng(12)
    values = [rng.normal(size=(6, 9)) + 0.5 for _ in range(3 * WINDOW)]
    contiguous = [[torch.tensor(v, dtype=torch.float32)] for v in values]
    transposed = [[torch.tensor(v.T, dtype=torch.float32).contiguous().t()] for v in values]
    assert not transposed[0][0].is_contiguous()
    batches = [4] * len(values)
    noise, expected = run_windows(contiguous, batches, WINDOW)
    assert noise._on_host
    noise, got = run_windows(transposed, batches, WINDOW)
    assert not noise._on_host
    for want, have in zip(expected, got, strict=True):
        assert (want is None) == (have is None)
        if want is not None:
            assert have.noise_scale == pytest.approx(want.noise_scale, rel=1e-4)


def test_a_later_non_contiguous_gradient_joins_the_kernels_window() -> None:
    """The window's first step chose the kernel; a later non-contiguous gradient is read
    through a contiguous copy: the same readings as with contiguous gradients throughout."""
    rng = np.random.default_rng(13)
    values = [rng.normal(size=(6, 9)) + 1.0 for _ in range(3 * WINDOW)]
    plain = [[torch.tensor(v, dtype=torch.float32)] for v in values]
    mixed = [
        [torch.tensor(v.T, dtype=torch.float32).contiguous().t() if i % WINDOW == 4 else g[0]]
        for i, (v, g) in enumerate(zip(values, plain, strict=True))
    ]
    assert not mixed[4][0].is_contiguous()
    batches = [4] * len(values)
    _, expected = run_windows(plain, batches, WINDOW)
    noise, got = run_windows(mixed, batches, WINDOW)
    assert noise._on_host
    assert expected[-1] is not None
    assert got[-1] is not None
    assert got[-1].windows == expected[-1].windows == 3
    assert got[-1].noise_scale == pytest.approx(expected[-1].noise_scale, rel=1e-5)
