"""Layer health's C++ kernels (python/src/kernels.cpp) against torch's reductions, and the
records of the CPU path (kernels, JSON written in C++) against the torch path on the same model.

No server is needed: the kernels are pure functions and LayerHealth is driven directly."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from torch import nn

from atlas_observatory import ObserverConfig, _atlas
from atlas_observatory import layer_health as lh
from atlas_observatory.containment import Containment


def unit_accumulator(a: torch.Tensor, units: int, inner: int, saturation: int) -> torch.Tensor:
    acc = torch.zeros(4 * units + 2, dtype=torch.float64)
    _atlas.accumulate_units(a.contiguous(), units, inner, saturation, acc)
    return acc


@pytest.mark.parametrize(
    ("shape", "unit_dim", "saturation"),
    [
        ((16, 8, 5, 7), 1, 0),
        ((64, 40), 1, 1),
        ((4, 9, 13), 2, 2),
        ((3, 6, 1000), 1, 1),
        # Series of a few values, padded in one partial vector (Sigmoid counts the padding
        # unless it is masked out).
        ((8, 3, 5), 1, 2),
        # A series longer than the kernel's float chunk, and a partial block of 3 units.
        ((2, 11, 8197), 1, 2),
        # Units last: more rows than one float chunk, a pair of 8-unit blocks and a partial one.
        ((1500, 21), 1, 2),
        ((700, 16), 1, 0),
    ],
)
def test_accumulate_units_matches_torch(
    shape: tuple[int, ...], unit_dim: int, saturation: int
) -> None:
    a = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    if saturation == 2:
        a = torch.sigmoid(a * 4)
    units = shape[unit_dim]
    inner = math.prod(shape[unit_dim + 1 :])
    acc = unit_accumulator(a, units, inner, saturation)
    dims = tuple(d for d in range(a.dim()) if d != unit_dim)
    wide = a.double()
    if saturation == 1:
        saturated = (wide.abs() > 0.99).double().sum(dims)
    elif saturation == 2:
        saturated = ((wide < 0.01) | (wide > 0.99)).double().sum(dims)
    else:
        saturated = torch.zeros(units, dtype=torch.float64)
    expected = torch.cat(
        [
            wide.sum(dims),
            wide.abs().sum(dims),
            (wide > 0).double().sum(dims),
            saturated,
            wide.pow(2).sum().reshape(1),
            torch.zeros(1, dtype=torch.float64),
        ]
    )
    torch.testing.assert_close(acc, expected, rtol=1e-5, atol=1e-3)


def test_accumulate_units_adds_and_counts_nonfinite() -> None:
    a = torch.ones(10, 4)
    a[2, 1] = float("nan")
    a[5, 3] = float("inf")
    acc = unit_accumulator(a, 4, 1, 0)
    _atlas.accumulate_units(torch.ones(10, 4), 4, 1, 0, acc)  # a second call adds
    assert acc[8:12].tolist() == [20.0, 19.0, 20.0, 20.0]  # NaN is not > 0; inf is
    assert acc[-1].item() == 2.0
    with pytest.raises(ValueError, match="multiple"):
        _atlas.accumulate_units(torch.ones(10), 3, 1, 0, acc)


def test_tensor_stats_and_squared_distances() -> None:
    w = torch.randn(30, 7)
    w[0, :3] = 0.0
    bad = torch.tensor([1.0, float("nan"), -float("inf")])
    out = torch.empty(8, dtype=torch.float64)
    _atlas.tensor_stats([w, bad], out)
    wide = w.double()
    torch.testing.assert_close(
        out[:4],
        torch.tensor([wide.pow(2).sum(), wide.abs().sum(), 3.0, 0.0], dtype=torch.float64),
    )
    assert out[7].item() == 2.0
    before = torch.randn(30, 7)
    distances = torch.empty(1, dtype=torch.float64)
    _atlas.squared_distances([w], [before], distances)
    assert distances.item() == pytest.approx((wide - before.double()).pow(2).sum().item())


def test_outputs_of_another_dtype_or_layout_are_refused() -> None:
    """nanobind would hand a kernel a converted copy of such an output, and the results written
    into the copy would be lost: each is a TypeError, and the array stays untouched."""
    w = torch.randn(5, 3)
    for out in (torch.zeros(4, dtype=torch.float32), torch.zeros(8, dtype=torch.float64)[::2]):
        with pytest.raises(TypeError):
            _atlas.tensor_stats([w], out)
        assert not out.any()
    with pytest.raises(TypeError):
        _atlas.tensor_stats([w], torch.zeros(4, dtype=torch.float64), [torch.zeros(15).double()])
    with pytest.raises(TypeError):
        _atlas.squared_distances([w], [w], torch.zeros(1, dtype=torch.float32))
    with pytest.raises(TypeError):
        _atlas.accumulate_units(w, 3, 1, 0, torch.zeros(14, dtype=torch.float32))


def test_layer_stats_json_writes_protocol_numbers() -> None:
    values = torch.tensor([1.0, float("inf"), 0.25], dtype=torch.float64)
    text = _atlas.layer_stats_json(
        7, None, 2.5, [('a"b\n', [("x", float("nan"))], [("units", 3.0)], [("u", values, 2.0)])]
    )
    record = json.loads(text)
    assert record == {
        "step": 7,
        "ts": 2.5,
        "layers": [
            {"layer": 'a"b\n', "x": "NaN", "extra": {"units": 3, "u": [2.0, "Infinity", 0.5]}}
        ],
    }


def test_json_numbers_read_back_exactly() -> None:
    """Every number the writer puts in a record parses back to the very same double: per-unit
    fractions over power-of-two row counts (exact decimals, written without std::to_chars),
    integers, and arbitrary doubles (std::to_chars), both signs, far and near zero."""
    generator = torch.Generator().manual_seed(3)
    counts = torch.arange(0, 4097, dtype=torch.float64)
    values = [
        counts * (1.0 / 4096),
        counts * (1.0 / 1000),
        -counts * (1.0 / 64),
        torch.tensor(
            [3.0, 64.0, 1000.0, 1e5, 1e14, 1e15, 123456789012345.0, 2.0**60, -0.0],
            dtype=torch.float64,
        ),
        torch.tensor(
            [2.0**-27, 2.0**-28, 3 * 2.0**-27, 1e-5, 0.1, 1 / 3, 5e-324, 1e300],
            dtype=torch.float64,
        ),
        torch.randn(2000, generator=generator, dtype=torch.float64)
        * torch.pow(10.0, torch.randint(-20, 20, (2000,), generator=generator).double()),
    ]
    expected = torch.cat(values)
    text = _atlas.layer_stats_json(1, None, 0.5, [("x", [], [], [("v", expected, 1.0)])])
    written = json.loads(text, parse_int=float)["layers"][0]["extra"]["v"]  # "-0" stays -0.0
    assert written == expected.tolist()
    assert [math.copysign(1.0, v) for v in written] == [
        math.copysign(1.0, v) for v in expected.tolist()
    ]
    # The exact decimals come out as std::to_chars writes them: shortest form, fixed on a tie.
    short = _atlas.layer_stats_json(
        1, None, 0.5, [("x", [], [], [("v", torch.tensor([0.5, 3.0, 1e5, 2.0**-13]), 1.0)])]
    )
    assert '"v":[0.5,3,1e+05,0.0001220703125]' in short


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6 * 8 * 8, 12)
        self.tanh = nn.Tanh()
        self.gate = nn.Sigmoid()
        self.out = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(self.flat(self.relu(self.bn(self.conv(x)))))
        h = self.tanh(h) + self.gate(h)
        h = self.tanh(h)  # a shared module: its second call adds to the first
        out: torch.Tensor = self.out(h)
        return out


ROOT_EXTRA = {"gradient_noise_scale": 12.5, "gns_batch_size": 5.0}


def cpu_float32(tensors: list[torch.Tensor]) -> bool:
    """layer_health._host_float32 without its _on_host switch (for the "mixed" sample)."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def sample(mode: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One layer_stats record of a fixed step: by the CPU kernels and the record written in C++
    ("host"), by torch operations ("torch"), or with activations by torch and parameters by the
    kernels ("mixed": the record is built in Python from both)."""
    if mode != "host":
        monkeypatch.setattr(lh, "_on_host", lambda t: False)
    if mode == "mixed":
        monkeypatch.setattr(lh, "_host_float32", cpu_float32)
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    records: list[str] = []
    health = lh.LayerHealth(
        model,
        ObserverConfig(layer_health_max_units=10),  # conv and bn ship all, fc goes by totals
        Containment(),
        lambda kind, text: records.append(text),
        activations=True,
    )
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    health.arm(3, 1)
    loss = model(x).square().mean()
    health.stop_activations()
    loss.backward()
    health.collect()
    optimizer.step()
    health.complete(ROOT_EXTRA)
    monkeypatch.undo()
    assert len(records) == 1
    record: dict[str, Any] = json.loads(records[0])
    return record


def assert_close(a: Any, b: Any, path: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), path
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list), path
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float | int) and not isinstance(a, bool):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-6), path
    else:
        assert a == b, path


def test_host_kernels_and_torch_path_give_the_same_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = sample("host", monkeypatch)
    torch_path = sample("torch", monkeypatch)
    mixed = sample("mixed", monkeypatch)
    for record in (host, torch_path, mixed):
        record.pop("ts")
    names = [layer["layer"] for layer in host["layers"]]
    # The root is a container: its entry carries the extra fields only, first.
    assert names == ["", "conv", "bn", "relu", "fc", "tanh", "gate", "out"]
    assert host["layers"][0] == {"layer": "", "extra": ROOT_EXTRA}
    tanh = host["layers"][names.index("tanh")]
    assert len(tanh["extra"]["unit_saturated_frac"]) == 10
    assert "update_ratio" in host["layers"][names.index("conv")]
    assert_close(torch_path, host, "record")
    assert_close(torch_path, mixed, "record")


def test_host_views_follow_replaced_parameters() -> None:
    """The CPU path keeps views of the weights between samples; a parameter given new storage
    (``param.data = ...``) is read anew, and one replaced between collect() and complete() gets
    no update ratio (its copy is of other memory)."""
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    records: list[dict[str, Any]] = []
    health = lh.LayerHealth(
        model,
        ObserverConfig(),
        Containment(),
        lambda kind, text: records.append(json.loads(text)),
        activations=True,
    )
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))

    def one_sample(step: int, replace_before_complete: bool = False) -> dict[str, Any]:
        health.arm(step, None)
        loss = model(x).square().mean()
        health.stop_activations()
        loss.backward()
        health.collect()
        optimizer.step()
        optimizer.zero_grad()
        if replace_before_complete:
            model.out.weight.data = model.out.weight.data.clone()
        health.complete()
        entries: dict[str, Any] = {entry["layer"]: entry for entry in records[-1]["layers"]}
        return entries

    one_sample(0)
    model.fc.weight.data = torch.full_like(model.fc.weight, 0.5)
    replaced = one_sample(1)
    # collect() read the weights before this step's update: 0.5 everywhere, and the bias (whose
    # value before the update is the updated one less the step: -lr * grad, not kept here).
    weight_n = model.fc.weight.numel()
    bias_n = model.fc.bias.numel()
    abs_mean = replaced["fc"]["weight_abs_mean"]
    bias_abs = abs_mean * (weight_n + bias_n) - 0.5 * weight_n
    assert 0.0 < bias_abs < 0.5 * bias_n  # the bias is small (init bound 1/sqrt(384))
    assert replaced["fc"]["weight_norm"] >= math.sqrt(0.25 * weight_n)
    assert replaced["fc"]["weight_norm"] == pytest.approx(math.sqrt(0.25 * weight_n), rel=1e-3)
    assert "update_ratio" in replaced["fc"]
    late = one_sample(2, replace_before_complete=True)
    assert "update_ratio" not in late["out"]
    assert "update_ratio" not in late["fc"]
    again = one_sample(3)
    assert "update_ratio" in again["out"]
