"""The device and precision the Observer measures at the model's first training forward
(atlas_observatory/run_settings.py), and what atlasd's device checks make of them.

The detection is unit-tested on every case it distinguishes; end to end, real CPU runs against a
real atlasd store ``device: "cpu"`` and ``precision: "float32"`` (or autocast's bfloat16). This
machine has no GPU, so the device checks' GPU side is exercised by describing the run's device
as an idle CUDA GPU (the run-create ``device`` object, what ``hostinfo.device_info`` reports on a
GPU host) while the model really trains on the CPU: the situation ``device.cpu_only`` exists
for. Whether ``device_info`` describes a real GPU correctly is not tested here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, digits_loader, final_diagnosis
from torch import nn

from atlas_observatory import Observer, ObserverConfig
from atlas_observatory import observer as observer_module
from atlas_observatory.run_settings import dtype_name, measured_settings, probe_forward

Json = Any
CPU = torch.device("cpu")


# ----- the detection -----


def test_float32_on_the_cpu() -> None:
    settings = measured_settings(CPU, torch.float32, None, torch.float32)
    assert settings == {"device": "cpu", "param_dtype": "float32", "precision": "float32"}


def test_autocast_gives_its_dtype_and_says_so() -> None:
    settings = measured_settings(torch.device("cuda", 0), torch.float32, torch.float16, None)
    assert settings == {
        "device": "cuda:0",
        "param_dtype": "float32",
        "precision": "float16",
        "autocast": True,
    }


def test_a_half_model_is_half_precision_without_autocast() -> None:
    """Pure bfloat16 training: no autocast key, which the checks would read as float32."""
    settings = measured_settings(CPU, torch.bfloat16, None, torch.bfloat16)
    assert settings == {"device": "cpu", "param_dtype": "bfloat16", "precision": "bfloat16"}


def test_a_half_output_from_float32_parameters_is_autocast_inside_the_model() -> None:
    settings = measured_settings(CPU, torch.float32, None, torch.bfloat16)
    assert settings["autocast"] is True
    assert settings["precision"] == "bfloat16"


def test_no_floating_output_falls_back_to_the_parameters() -> None:
    assert measured_settings(CPU, torch.float64, None, None)["precision"] == "float64"
    assert dtype_name(torch.float32) == "float32"


def test_probe_reads_autocast_inside_its_region() -> None:
    model = nn.Linear(4, 2)
    param = model.weight
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = probe_forward(param, model(torch.ones(1, 4)))
    outside = probe_forward(param, model(torch.ones(1, 4)))
    assert inside["autocast"] is True
    assert inside["precision"] == "bfloat16"
    assert "autocast" not in outside
    assert outside["precision"] == "float32"


# ----- end to end -----


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def train(
    server: Atlasd,
    name: str,
    steps: Callable[[Observer, nn.Module, torch.optim.Optimizer], None],
    hyperparameters: dict[str, Any] | None = None,
) -> str:
    config = ObserverConfig(server_url=server.url, track_profiler=False, layer_health_every=5)
    model = mlp()
    observer = Observer(project="run-config", run_name=name, config=config)
    if hyperparameters:
        observer.log_hyperparameters(hyperparameters)
    observer.register_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(2):
        steps(observer, model, optimizer)
        observer.end_epoch()
    observer.finish()
    assert observer.run_id is not None
    return observer.run_id


def plain_steps(observer: Observer, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    for x, y in digits_loader(limit=256):
        observer.step(model, x, y)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def autocast_steps(observer: Observer, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """A manual loop (track_step) whose forward runs under CPU autocast in bfloat16."""
    for x, y in digits_loader(limit=256):
        with observer.track_step(batch_size=len(x)) as step:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss: Any = nn.functional.cross_entropy(model(x), y)  # backward is untyped
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step.loss = loss


def checks(doc: Json) -> set[str]:
    return {f["check"] for f in doc["findings"]}


def test_a_cpu_run_stores_its_device_and_precision(atlasd: Atlasd) -> None:
    run_id = train(atlasd, "cpu", plain_steps)
    values = atlasd.run(run_id)["hyperparameters"]
    assert values["device"] == "cpu"
    assert values["precision"] == "float32"
    assert values["param_dtype"] == "float32"
    assert "autocast" not in values
    # No accelerator here: the CPU is all there was, nothing to warn about.
    assert "device.cpu_only" not in checks(final_diagnosis(atlasd, run_id, 2))


def test_a_cpu_autocast_run_stores_bfloat16(atlasd: Atlasd) -> None:
    run_id = train(atlasd, "autocast", autocast_steps)
    values = atlasd.run(run_id)["hyperparameters"]
    assert values["device"] == "cpu"
    assert values["precision"] == "bfloat16"
    assert values["autocast"] is True


def test_the_users_own_keys_stand(atlasd: Atlasd) -> None:
    run_id = train(atlasd, "user-keys", plain_steps, {"device": "cpu-cluster", "lr": 0.05})
    values = atlasd.run(run_id)["hyperparameters"]
    assert values["device"] == "cpu-cluster"
    assert values["precision"] == "float32"


@pytest.fixture
def idle_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run describes an idle CUDA GPU of capability 8.0 (see the module docstring)."""
    gpu = {
        "type": "cuda",
        "count": 1,
        "name": "NVIDIA A100-SXM4-40GB",
        "memory_bytes": 42_000_000_000,
        "devices": [{"index": 0, "name": "NVIDIA A100-SXM4-40GB", "capability": "8.0"}],
    }
    monkeypatch.setattr(observer_module, "device_info", lambda: dict(gpu))


@pytest.mark.usefixtures("idle_gpu")
def test_training_on_the_cpu_beside_a_gpu_is_found(atlasd: Atlasd) -> None:
    run_id = train(atlasd, "cpu-beside-gpu", plain_steps)
    doc = final_diagnosis(atlasd, run_id, 2)
    found = {f["check"]: f for f in doc["findings"]}
    assert "device.cpu_only" in found, doc["findings"]
    assert found["device.cpu_only"]["evidence"]["declared_device"] == "cpu"
    # The measured float32 on a tensor-core GPU description: mixed precision was missed too.
    assert "device.mixed_precision_missed" in found


@pytest.mark.usefixtures("idle_gpu")
def test_measured_autocast_keeps_mixed_precision_quiet(atlasd: Atlasd) -> None:
    run_id = train(atlasd, "autocast-beside-gpu", autocast_steps)
    assert "device.mixed_precision_missed" not in checks(final_diagnosis(atlasd, run_id, 2))
