"""Energy with real training against a real atlasd: step energies add up to the epochs' energy
entries, every figure is labelled with its method, the settings travel in the run's config, and
a process that does not sample (or a run without sustainability tracking) reports none."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, DigitsCNN, digits_loader, step_series

from atlas_observatory import Observer, ObserverConfig, _atlas

_METHODS = {
    "measured:nvml-counter",
    "measured:nvml-power",
    "measured:rapl",
    "estimated:cpu-model",
    "estimated:ram-model",
}


def _train(observer: Observer, epochs: int, limit: int = 256) -> int:
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = digits_loader(batch_size=32, limit=limit)
    steps = 0
    for _ in range(epochs):
        for x, y in loader:
            observer.step(model, x, y)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
        with torch.no_grad():  # validation: its energy belongs to the epoch's last step
            model(next(iter(loader))[0])
        observer.end_epoch(val_loss=0.5)
    return steps


def _finite(entries: list[dict[str, Any]]) -> float:
    return sum(e["joules"] for e in entries if isinstance(e["joules"], float | int))


@pytest.fixture
def sustainability_config(atlasd: Atlasd) -> ObserverConfig:
    return ObserverConfig(
        server_url=atlasd.url,
        track_layer_health=False,
        country_iso_code="FRA",
        grid_g_co2_per_kwh=55.0,
        pue=1.2,
        carbon_budget_kg=2.0,
        car_g_co2_per_km=120.0,
    )


def test_step_energy_adds_up_to_each_epochs_energy_entries(
    atlasd: Atlasd, sustainability_config: ObserverConfig
) -> None:
    observer = Observer(run_name="energy", config=sustainability_config, run_id="energy-sum")
    steps = _train(observer, epochs=2)
    observer.finish()

    energy = step_series(atlasd, "energy-sum", "energy_j")
    power = step_series(atlasd, "energy-sum", "power_w")
    assert energy["x"] == list(range(steps))
    assert all(j >= 0 for j in energy["last"])
    assert len(power["x"]) == steps
    assert all(p >= 0 for p in power["last"])

    epochs = atlasd.get("/api/v1/runs/energy-sum/epochs")["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1]
    per_epoch = steps // 2
    for index, epoch in enumerate(epochs):
        entries = epoch["energy"]
        assert {e["component"] for e in entries} >= {"cpu", "ram"}
        assert all(e["method"] in _METHODS for e in entries), entries
        window = energy["last"][index * per_epoch : (index + 1) * per_epoch]
        assert sum(window) == pytest.approx(_finite(entries), rel=1e-9, abs=1e-9)
        assert _finite(entries) > 0  # the CPU worked: a model or RAPL saw it


def test_methods_and_settings_are_in_the_runs_device_info_and_config(
    atlasd: Atlasd, sustainability_config: ObserverConfig
) -> None:
    observer = Observer(run_name="energy", config=sustainability_config, run_id="energy-info")
    _train(observer, epochs=1, limit=64)
    observer.finish()
    run = atlasd.run("energy-info")

    info = run["device"]["energy"]
    assert info["backend"] == "atlas"
    assert info["sampling"] is True
    assert info["sample_hz"] == 10.0
    by_component = {d["component"]: d for d in info["devices"]}
    assert by_component["cpu"]["method"] in {"measured:rapl", "estimated:cpu-model"}
    if by_component["cpu"]["method"] == "estimated:cpu-model":
        # An estimate always says why the measurement was not possible.
        assert "RAPL" in by_component["cpu"]["degraded"]
    assert isinstance(info["notes"], list)

    settings = run["config"]["energy"]
    for key in (
        "country_iso_code",
        "cloud_region",
        "grid_g_co2_per_kwh",
        "pue",
        "carbon_price_eur_per_t",
        "car_g_co2_per_km",
        "carbon_budget_kg",
    ):
        assert key in settings, key
    assert settings["country_iso_code"] == "FRA"
    assert settings["grid_g_co2_per_kwh"] == 55.0
    assert settings["energy_backend"] == "atlas"


def test_a_rank_that_does_not_sample_reports_no_energy(
    atlasd: Atlasd, sustainability_config: ObserverConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torchrun's environment of the second process on a node.
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    observer = Observer(run_name="rank1", config=sustainability_config, run_id="energy-rank1")
    _train(observer, epochs=1, limit=64)
    observer.finish()
    assert atlasd.run("energy-rank1")["device"]["energy"]["sampling"] is False
    assert step_series(atlasd, "energy-rank1", "energy_j")["x"] == []
    epochs = atlasd.get("/api/v1/runs/energy-rank1/epochs")["epochs"]
    assert epochs
    assert all(not e.get("energy") for e in epochs)


def test_without_sustainability_tracking_nothing_is_measured(atlasd: Atlasd) -> None:
    config = ObserverConfig(
        server_url=atlasd.url, track_layer_health=False, track_sustainability=False
    )
    observer = Observer(run_name="off", config=config, run_id="energy-off")
    _train(observer, epochs=1, limit=64)
    observer.finish()
    assert "energy" not in atlasd.run("energy-off")["device"]
    assert step_series(atlasd, "energy-off", "energy_j")["x"] == []


def test_bad_energy_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="energy_sample_hz"):
        ObserverConfig(energy_sample_hz=2.0).check()
    with pytest.raises(ValueError, match="energy_backend"):
        ObserverConfig(energy_backend="joulemeter").check()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cpu_tdp_w"):
        ObserverConfig(cpu_tdp_w=-5.0).check()


def test_the_native_monitor_reads_this_machine() -> None:
    monitor = _atlas.EnergyMonitor.create(nvml_library="")
    monitor.start()
    total = 0.0
    for _ in range(200_000):  # some CPU work for the process-scope model to see
        total += math.sqrt(3.0)
    snapshot = monitor.sample_now()
    monitor.stop()
    assert snapshot["sample"] >= 1
    components = {d["component"] for d in snapshot["devices"]}
    assert components == {"cpu", "ram"}
    assert monitor.total_joules() == pytest.approx(
        sum(d["joules"] for d in monitor.latest()["devices"] if math.isfinite(d["joules"]))
    )
    assert monitor.component_joules("cpu") >= 0
    with pytest.raises(ValueError, match="component must be gpu, cpu or ram"):
        monitor.component_joules("fan")
    with pytest.raises(ValueError, match="sample_hz"):
        _atlas.EnergyMonitor.create(sample_hz=1.0)
