"""GET /api/v1/runs/{id}/energy against a real atlasd: settings from the run's config, energy
per epoch and component with methods, step energy for epochs without entries, layer shares,
and carbon and cost, checked exactly against the documented formula (docs/energy.md)."""

from __future__ import annotations

from typing import Any

from atlasd import Server

T0 = 1_700_000_000.0


def footprint(
    joules: float, pue: float, g_per_kwh: float, eur_per_t: float, g_per_km: float
) -> dict[str, float]:
    """docs/energy.md's formula, in the same order of operations as the server."""
    kwh = joules / 3.6e6 * pue
    kg = kwh * g_per_kwh / 1000.0
    return {
        "joules": joules,
        "kwh": kwh,
        "kg_co2": kg,
        "eur": kg / 1000.0 * eur_per_t,
        "car_km": kg * 1000.0 / g_per_km,
    }


def energy_step(seq: int, step_no: int, epoch: int, joules: float) -> dict[str, Any]:
    return {
        "kind": "step",
        "seq": seq,
        "step": step_no,
        "epoch": epoch,
        "ts": T0 + seq,
        "loss": 1.0,
        "energy_j": joules,
    }


ARCHITECTURE = [
    {
        "name": "",
        "type": "Net",
        "parent": None,
        "params": 0,
        "trainable_params": 0,
        "flops": 1000.0,
    },
    {
        "name": "features",
        "type": "Sequential",
        "parent": "",
        "params": 0,
        "trainable_params": 0,
        "flops": 500.0,
    },
    {
        "name": "features.0",
        "type": "Conv2d",
        "parent": "features",
        "params": 320,
        "trainable_params": 320,
        "flops": 500.0,
    },
    {
        "name": "classifier",
        "type": "Linear",
        "parent": "",
        "params": 1290,
        "trainable_params": 1290,
        "flops": 250.0,
    },
]


def test_energy_document_from_epochs_steps_and_flops(server: Server) -> None:
    settings = {
        "country_iso_code": "FRA",
        "pue": 1.5,
        "carbon_price_eur_per_t": 80,
        "car_g_co2_per_km": 100,
        "carbon_budget_kg": 3,
    }
    run = server.create_run(config={"lr": 0.1, "energy": settings})
    records: list[dict[str, Any]] = [
        {"kind": "architecture", "seq": 1, "modules": ARCHITECTURE},
        energy_step(2, 0, 0, 111.0),  # epoch 0's record carries its energy: not counted
        {
            "kind": "epoch",
            "seq": 3,
            "epoch": 0,
            "ts": T0 + 3,
            "train": {"loss": 0.9},
            "energy": [
                {
                    "component": "gpu",
                    "device": "cuda:0",
                    "joules": 3.6e6,
                    "method": "measured:nvml-counter",
                },
                {
                    "component": "gpu",
                    "device": "cuda:1",
                    "joules": 1.8e6,
                    "method": "measured:nvml-counter",
                },
                {
                    "component": "cpu",
                    "device": "package-0",
                    "joules": 7.2e5,
                    "method": "measured:rapl",
                },
                {"component": "ram", "joules": 3.6e5, "method": "estimated:ram-model"},
            ],
        },
        energy_step(4, 1, 1, 1000.0),
        energy_step(5, 2, 1, 800.0),
        {"kind": "epoch", "seq": 6, "epoch": 1, "ts": T0 + 6, "train": {"loss": 0.5}},
        energy_step(7, 3, 2, 500.0),  # epoch 2 is still running
    ]
    reply = server.post(f"/api/v1/runs/{run}/records", {"records": records})
    assert reply.status == 200, reply

    reply = server.get(f"/api/v1/runs/{run}/energy")
    assert reply.status == 200, reply
    doc = reply.body
    assert doc["settings"] == {
        "pue": 1.5,
        "g_co2_per_kwh": 56.0,
        "intensity_source": "OWID 2023 (FRA)",
        "eur_per_tonne_co2": 80.0,
        "g_co2_per_car_km": 100.0,
        "budget_kg_co2": 3.0,
    }
    k = (1.5, 56.0, 80.0, 100.0)

    e0, e1, e2 = doc["epochs"]
    assert {key: e0[key] for key in footprint(0, *k)} == footprint(6.48e6, *k)
    assert (e0["epoch"], e0["source"], e0["complete"]) == (0, "epoch", True)
    assert e0["loss"] == 0.9
    assert e0["by_component"] == [
        {"component": "gpu", "joules": 5.4e6, "method": "measured:nvml-counter"},
        {"component": "cpu", "joules": 7.2e5, "method": "measured:rapl"},
        {"component": "ram", "joules": 3.6e5, "method": "estimated:ram-model"},
    ]
    assert e0["methods"] == ["estimated:ram-model", "measured:nvml-counter", "measured:rapl"]
    assert {key: e1[key] for key in footprint(0, *k)} == footprint(1800.0, *k)
    assert (e1["source"], e1["complete"], e1["loss"]) == ("steps", True, 0.5)
    assert e1["by_component"] == [
        {"component": "all", "joules": 1800.0, "method": "steps:energy_j"}
    ]
    assert (e2["epoch"], e2["source"], e2["complete"], e2["joules"]) == (2, "steps", False, 500.0)
    assert e2["loss"] is None

    total = 6.48e6 + 1800.0 + 500.0
    assert {key: doc["totals"][key] for key in footprint(0, *k)} == footprint(total, *k)
    assert doc["totals"]["by_component"] == [
        {"component": "gpu", "joules": 5.4e6, "method": "measured:nvml-counter"},
        {"component": "cpu", "joules": 7.2e5, "method": "measured:rapl"},
        {"component": "ram", "joules": 3.6e5, "method": "estimated:ram-model"},
        {"component": "all", "joules": 2300.0, "method": "steps:energy_j"},
    ]
    assert doc["measured"] is False
    assert doc["measured_joules"] == 5.4e6 + 7.2e5
    assert doc["methods"] == [
        "estimated:ram-model",
        "measured:nvml-counter",
        "measured:rapl",
        "steps:energy_j",
    ]

    # FLOPs of the leaves (features.0: 500, classifier: 250) of the root's 1,000.
    assert doc["layer_basis"] == "flops"
    run_kg = footprint(total, *k)["kg_co2"]
    assert doc["layers"] == [
        {
            "layer": "features.0",
            "share": 0.5,
            "basis": "flops",
            "joules": 0.5 * total,
            "kg_co2": 0.5 * run_kg,
        },
        {
            "layer": "classifier",
            "share": 0.25,
            "basis": "flops",
            "joules": 0.25 * total,
            "kg_co2": 0.25 * run_kg,
        },
        {
            "layer": "(other)",
            "share": 0.25,
            "basis": "flops",
            "joules": 0.25 * total,
            "kg_co2": 0.25 * run_kg,
        },
    ]
    assert doc["notes"] == []


def test_profiler_times_win_over_flops(server: Server) -> None:
    run = server.create_run(config={"energy": {"grid_g_co2_per_kwh": 200}})
    window = {
        "window_steps": 3,
        "first_step": 11,
        "last_step": 13,
        "modules": [
            {"name": "features", "calls": 3, "cpu_ms": 9.0, "device_ms": 30.0},
            {"name": "classifier", "calls": 3, "cpu_ms": 3.0, "device_ms": 10.0},
        ],
        "phases": {"forward": {"cpu_ms": 20.0, "device_ms": 50.0, "calls": 3}},
    }
    records = [
        {"kind": "architecture", "seq": 1, "modules": ARCHITECTURE},
        {"kind": "profile", "seq": 2, "step": 13, "ts": T0 + 2, "data": window},
        {
            "kind": "epoch",
            "seq": 3,
            "epoch": 0,
            "ts": T0 + 3,
            "energy": [
                {
                    "component": "gpu",
                    "device": "cuda:0",
                    "joules": 7.2e6,
                    "method": "measured:nvml-counter",
                }
            ],
        },
    ]
    assert server.post(f"/api/v1/runs/{run}/records", {"records": records}).status == 200
    doc = server.get(f"/api/v1/runs/{run}/energy").body
    assert doc["settings"]["intensity_source"] == "user override (grid_g_co2_per_kwh)"
    assert doc["measured"] is True
    # 7.2e6 J = 2 kWh (PUE 1) x 200 g = 0.4 kg; device time 30 + 10 of a 50 ms forward.
    assert doc["totals"]["kg_co2"] == 0.4
    assert doc["layer_basis"] == "profiler:device_ms"
    assert [(x["layer"], x["share"]) for x in doc["layers"]] == [
        ("features", 0.6),
        ("classifier", 0.2),
        ("(other)", 0.2),
    ]
    assert doc["layers"][0]["joules"] == 0.6 * 7.2e6


def test_defaults_unknown_country_and_bad_settings(server: Server) -> None:
    plain = server.create_run()
    doc = server.get(f"/api/v1/runs/{plain}/energy").body
    assert doc["settings"] == {
        "pue": 1.0,
        "g_co2_per_kwh": 481.0,
        "intensity_source": "OWID 2023 (WORLD): no country_iso_code or cloud_region configured",
        "eur_per_tonne_co2": 50.0,
        "g_co2_per_car_km": 106.6,
        "budget_kg_co2": None,
    }
    assert (doc["epochs"], doc["layers"], doc["methods"]) == ([], [], [])
    assert (doc["totals"]["joules"], doc["measured"]) == (0, False)
    assert doc["layer_basis"] == "none"

    odd = server.create_run(config={"energy": {"country_iso_code": "ATL", "pue": "high"}})
    doc = server.get(f"/api/v1/runs/{odd}/energy").body
    assert doc["settings"]["g_co2_per_kwh"] == 481.0
    assert doc["settings"]["intensity_source"] == (
        "OWID 2023 (WORLD): country_iso_code 'ATL' not in the table"
    )
    assert doc["settings"]["pue"] == 1.0
    assert doc["notes"] == [
        "country_iso_code 'ATL' ignored: not in the table",
        "pue ignored: not a number",
    ]

    region = server.create_run(config={"energy": {"cloud_region": "gcp:europe-west4"}})
    doc = server.get(f"/api/v1/runs/{region}/energy").body
    assert doc["settings"]["g_co2_per_kwh"] == 268.0
    assert (
        doc["settings"]["intensity_source"] == "OWID 2023 (NLD) via cloud region gcp:europe-west4"
    )


def test_unknown_run_is_404(server: Server) -> None:
    reply = server.get("/api/v1/runs/no-such-run/energy")
    assert reply.status == 404
