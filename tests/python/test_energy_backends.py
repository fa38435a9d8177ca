"""The CodeCarbon backend: the Observer records CodeCarbon's per-epoch energy, labelled as
CodeCarbon's, and on the same CPU run the two backends agree when they use the same model.

The same model: ``cpu_tdp_w`` goes to Atlas's CPU model and to CodeCarbon's ``force_cpu_power``,
and both track the process (``tracking_mode="process"``), so both estimate CPU power as TDP x
(CPU seconds of the process and its children) / (wall seconds x logical CPUs) from the same
kernel counters. Atlas's monitor reads its figure right after CodeCarbon's task starts and right
before it stops, so both cover the same span of the same training. What still differs: CodeCarbon
counts some of its own work inside its task (preparing its data after it has taken its baseline),
and both read CPU time in 10 ms clock ticks. Each epoch trains for at least 1.5 s of CPU time, so
ticks cost under 2%; the tolerance is 10%, well below what a mismatch of models would give (a
different TDP, CPU count or scope changes the figure by a factor). RAM is not compared: the two
RAM models differ by design (docs/energy.md).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch
from obs_helpers import Atlasd, DigitsCNN, digits_loader

from atlas_observatory import Observer, ObserverConfig, _atlas

pytest.importorskip("codecarbon")
import codecarbon  # after the skip: CodeCarbon is the optional backend
from codecarbon import OfflineEmissionsTracker

_TDP_W = 40.0
_TOLERANCE = 0.10
_EPOCH_CPU_S = 1.5


def _cpu_joules(entries: list[dict[str, Any]]) -> float:
    return sum(float(e["joules"]) for e in entries if e["component"] == "cpu")


def test_codecarbon_and_atlas_agree_on_the_same_cpu_run(
    atlasd: Atlasd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = _atlas.EnergyMonitor.create(nvml_library="", cpu_tdp_w=_TDP_W)
    monitor.start()
    spans: list[float] = []  # Atlas's CPU joules at each CodeCarbon task start and stop

    def atlas_cpu_joules() -> float:
        return _cpu_joules(monitor.sample_now()["devices"])

    class Bracketed(OfflineEmissionsTracker):
        def start_task(self, task_name: str | None = None) -> None:
            super().start_task(task_name)
            spans.append(atlas_cpu_joules())

        def stop_task(self, task_name: Any = None) -> Any:
            spans.append(atlas_cpu_joules())
            return super().stop_task(task_name)

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", Bracketed)
    config = ObserverConfig(
        server_url=atlasd.url,
        track_layer_health=False,
        energy_backend="codecarbon",
        cpu_tdp_w=_TDP_W,
        energy_model_scope="process",
    )
    observer = Observer(run_name="codecarbon", config=config, run_id="energy-codecarbon")
    model = DigitsCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = digits_loader(batch_size=32, limit=320)
    for _ in range(3):
        started = time.process_time()
        while time.process_time() - started < _EPOCH_CPU_S:  # CPU time, not wall time
            for x, y in loader:
                observer.step(model, x, y)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        observer.end_epoch()
    observer.finish()
    monitor.stop()

    run = atlasd.run("energy-codecarbon")
    assert run["device"]["energy"]["backend"] == "codecarbon"
    assert run["device"]["energy"]["codecarbon"] == "3.3.2"
    epochs = atlasd.get("/api/v1/runs/energy-codecarbon/epochs")["epochs"]
    assert len(epochs) == 3
    # Task i spans spans[2i] (its start) to spans[2i + 1] (its stop).
    for index, epoch in enumerate(epochs):
        theirs = epoch["energy"]
        methods = {e["component"]: e["method"] for e in theirs}
        assert methods["ram"] == "estimated:codecarbon-ram-model"
        if methods["cpu"] == "measured:codecarbon-rapl":
            continue  # RAPL is readable here: no model to compare
        assert methods["cpu"] == "estimated:codecarbon-cpu-load"
        ours = spans[2 * index + 1] - spans[2 * index]
        assert ours > 0
        assert _cpu_joules(theirs) == pytest.approx(ours, rel=_TOLERANCE), (theirs, ours)
    # Step records carry no energy with this backend.
    steps = atlasd.get("/api/v1/runs/energy-codecarbon/series/energy_j?points=10000")
    assert steps["x"] == []
