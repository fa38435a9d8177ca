"""Energy of a run: per step record, per epoch and per component, with how each figure was made.

Two backends, chosen by ``ObserverConfig.energy_backend``:

``"atlas"`` (default)
    libatlas's EnergyMonitor (``_atlas.EnergyMonitor``): NVML energy counters (or power
    integrated at ``energy_sample_hz``), RAPL, else the documented CPU and RAM models, sampled on
    a C++ thread that never holds the GIL. Step records get ``energy_j`` and ``power_w`` (a
    lock-free read at each step's end, made by libatlas's StepRecorder, which keeps the step
    windows); epoch records get one energy entry per device.
``"codecarbon"``
    CodeCarbon's public API (``OfflineEmissionsTracker`` with one task per epoch), for teams that
    standardise on it. Epoch records get cpu, gpu and ram entries; step records get none (a
    CodeCarbon measurement costs milliseconds, too much for every step).

Energy windows: a step record's energy runs from the previous step record's end to its own end;
the last step of an epoch ends at ``end_epoch``, so with ``observer.step`` the step energies of an
epoch add up to its energy entries. An epoch's energy runs from the previous ``end_epoch`` (or
the start of the run) to its own.

Under ``torch.distributed`` one process per node measures the node's devices (``LOCAL_RANK`` 0,
or the lowest rank on each host) and the others report no energy, so a node is never counted
twice and the job's energy is the sum over its nodes. docs/energy.md documents every method.

Threading: an EnergyTracker is used from the training thread only.
"""

from __future__ import annotations

import math
import os
import socket
from typing import TYPE_CHECKING, Any

from .jsonsafe import telemetry_number

if TYPE_CHECKING:
    from .config import ObserverConfig

__all__ = [
    "AtlasEnergy",
    "CodeCarbonEnergy",
    "EnergyTracker",
    "node_id",
    "open_energy",
    "sampling_rank",
]

_J_PER_KWH = 3.6e6


def node_id() -> str:
    """The node this process runs on: $ATLAS_NODE_ID when set (for containers that share a
    hostname across nodes), else the hostname."""
    return os.environ.get("ATLAS_NODE_ID") or socket.gethostname()


def sampling_rank() -> bool:
    """Whether this process measures its node's devices: every process outside
    torch.distributed; under it, LOCAL_RANK 0 when the launcher sets LOCAL_RANK, else the
    lowest global rank on this node (an all_gather of node ids, so every rank must start its
    Observer, as every rank does in data-parallel training)."""
    import torch.distributed as dist

    local_rank = os.environ.get("LOCAL_RANK")
    distributed = dist.is_available() and dist.is_initialized()
    if (
        local_rank is not None
        and local_rank.strip() != ""
        and (distributed or "RANK" in os.environ)
    ):
        return local_rank.strip() == "0"
    if not distributed:
        return True
    names: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(names, node_id())
    me = dist.get_rank()
    return me == min(rank for rank, name in enumerate(names) if name == names[me])


class EnergyTracker:
    """What the Observer asks of a backend. The base class is the placeholder of a process
    that does not measure (a non-sampling rank): it reports no energy."""

    backend = "none"

    def start(self) -> None:
        """Starts measuring (the run's time zero)."""

    def step_source(self) -> Any:
        """What the StepRecorder reads each step's energy from (an object with total_joules()),
        or None: step records without energy."""
        return None

    def end_epoch(self) -> tuple[list[dict[str, Any]], float | None]:
        """The energy entries of the epoch that ends now, and the step source's total joules
        at this moment (None without a step source): the StepRecorder ends the open step's
        window there, or starts the next one, so an epoch's steps add up to its entries."""
        return [], None

    def describe(self) -> dict[str, Any]:
        """For the run's device info: backend, role and each component's method."""
        return {"backend": self.backend, "sampling": False, "node": node_id()}

    def stop(self) -> None:
        """Stops measuring; safe to call twice."""


class AtlasEnergy(EnergyTracker):
    """libatlas's EnergyMonitor (module docs)."""

    backend = "atlas"

    def __init__(self, config: ObserverConfig, monitor: Any = None) -> None:
        from . import _atlas

        self._monitor: Any = monitor
        if self._monitor is None:
            self._monitor = _atlas.EnergyMonitor.create(
                sample_hz=config.energy_sample_hz,
                gpu_indices=_visible_gpu_indices(),
                model_scope=config.energy_model_scope,
                cpu_tdp_w=config.cpu_tdp_w,
            )
        self._sample_hz = config.energy_sample_hz
        # Each device's joules at the previous epoch's end.
        self._epoch_base: dict[str, float] = {}
        self._stopped = False

    def start(self) -> None:
        self._monitor.start()
        self._epoch_base = {d["device"]: 0.0 for d in self._monitor.latest()["devices"]}

    def step_source(self) -> Any:
        return self._monitor

    def end_epoch(self) -> tuple[list[dict[str, Any]], float | None]:
        snapshot = self._monitor.sample_now()
        entries = []
        for device in snapshot["devices"]:
            joules = float(device["joules"])
            name = str(device["device"])
            before = self._epoch_base.get(name, 0.0)
            self._epoch_base[name] = joules
            entry: dict[str, Any] = {
                "component": device["component"],
                "device": name,
                "joules": telemetry_number(joules - before if math.isfinite(joules) else math.nan),
                "method": device["method"] if device["method"] != "unavailable" else None,
            }
            if entry["method"] is None:
                # The protocol needs measured:/estimated:; an unmeasurable device says so with
                # NaN joules under the method it would have had.
                entry["method"] = _unavailable_method(str(device["component"]))
            entries.append(entry)
        return entries, float(snapshot["total_joules"])

    def describe(self) -> dict[str, Any]:
        latest = self._monitor.latest()
        return {
            "backend": self.backend,
            "sampling": True,
            "node": node_id(),
            "sample_hz": self._sample_hz,
            "devices": [
                {
                    key: device[key]
                    for key in (
                        "component",
                        "device",
                        "name",
                        "method",
                        "degraded",
                        "power_limit_w",
                        "memory_total_bytes",
                    )
                    if key in device
                }
                for device in latest["devices"]
            ],
            "notes": list(self._monitor.notes()),
        }

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._monitor.stop()


class CodeCarbonEnergy(EnergyTracker):
    """CodeCarbon's OfflineEmissionsTracker, one task per epoch (public API only)."""

    backend = "codecarbon"

    def __init__(self, config: ObserverConfig, tracker: Any = None) -> None:
        self._tracker: Any = tracker
        if self._tracker is None:
            from codecarbon import OfflineEmissionsTracker

            kwargs: dict[str, Any] = {
                # CodeCarbon's emissions figure is not used (atlasd computes carbon from the
                # energy with its own table); the country only satisfies its offline mode.
                "country_iso_code": config.country_iso_code or "USA",
                "tracking_mode": config.energy_model_scope,
                "output_methods": [],  # Atlas stores the figures; CodeCarbon writes nothing
                "log_level": "error",
                "allow_multiple_runs": True,
                "pue": 1.0,
            }
            if config.cpu_tdp_w is not None:
                kwargs["force_cpu_power"] = config.cpu_tdp_w
            self._tracker = OfflineEmissionsTracker(**kwargs)
        self._cpu_method = (
            "measured:codecarbon-rapl" if _rapl_readable() else "estimated:codecarbon-cpu-load"
        )
        self._epoch = 0
        self._running = False
        self._gpu_seen = False

    def start(self) -> None:
        self._tracker.start_task(f"epoch-{self._epoch}")
        self._running = True

    def end_epoch(self) -> tuple[list[dict[str, Any]], float | None]:
        if not self._running:
            return [], None
        data = self._tracker.stop_task()
        self._epoch += 1
        self._tracker.start_task(f"epoch-{self._epoch}")
        if data is None:
            return [], None
        entries = [
            {
                "component": "cpu",
                "joules": float(data.cpu_energy) * _J_PER_KWH,
                "method": self._cpu_method,
            },
            {
                "component": "ram",
                "joules": float(data.ram_energy) * _J_PER_KWH,
                "method": "estimated:codecarbon-ram-model",
            },
        ]
        if float(data.gpu_count or 0) > 0 or float(data.gpu_energy) > 0:
            self._gpu_seen = True
            entries.append(
                {
                    "component": "gpu",
                    "joules": float(data.gpu_energy) * _J_PER_KWH,
                    "method": "measured:codecarbon-nvml",
                }
            )
        return entries, None

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "backend": self.backend,
            "sampling": True,
            "node": node_id(),
            "codecarbon": version("codecarbon"),
            "devices": [
                {"component": "cpu", "method": self._cpu_method},
                {"component": "ram", "method": "estimated:codecarbon-ram-model"},
                {"component": "gpu", "method": "measured:codecarbon-nvml"},
            ],
        }

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._tracker.stop_task()
            self._tracker.stop()


def open_energy(config: ObserverConfig) -> EnergyTracker | None:
    """The tracker the config asks for: None without track_sustainability, the no-energy
    placeholder on a non-sampling rank, else the chosen backend (not started)."""
    if not config.track_sustainability:
        return None
    if not sampling_rank():
        return EnergyTracker()
    if config.energy_backend == "codecarbon":
        return CodeCarbonEnergy(config)
    return AtlasEnergy(config)


def _unavailable_method(component: str) -> str:
    # The protocol wants measured:/estimated: and a name; the NaN joules say it failed.
    return "measured:unavailable" if component == "gpu" else "estimated:unavailable"


def _visible_gpu_indices() -> list[int]:
    """NVML indices of the GPUs this process may use: CUDA_VISIBLE_DEVICES when it lists
    integers (NVML and CUDA number GPUs alike when CUDA_DEVICE_ORDER=PCI_BUS_ID; see
    docs/energy.md), else every GPU (an empty list)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not visible:
        return []
    try:
        return [int(part) for part in visible.split(",") if part.strip()]
    except ValueError:  # UUIDs or MIG names: measure every GPU and say so in the docs
        return []


def _rapl_readable() -> bool:
    """Whether RAPL's package counter is readable here (then CodeCarbon measures the CPU)."""
    from . import _atlas

    probe = _atlas.EnergyMonitor.create(nvml_library="")
    return any(d["method"] == "measured:rapl" for d in probe.latest()["devices"])
