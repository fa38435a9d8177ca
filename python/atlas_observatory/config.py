"""ObserverConfig: everything an Observer can be told, with its default.

A plain dataclass, read once when the Observer starts; changing it afterwards has no effect.
Every field is documented in docs/observer.md; units live in the names (``_s``, ``_bytes``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_SERVER_URL", "LossFn", "ObserverConfig", "default_server_url"]

# atlasd's default address (server/src/cli/serve.hpp: kDefaultPort).
DEFAULT_SERVER_URL = "http://127.0.0.1:7878"

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]


def default_server_url() -> str:
    """$ATLAS_URL when set, else atlasd's default address on this machine."""
    return os.environ.get("ATLAS_URL") or DEFAULT_SERVER_URL


@dataclass
class ObserverConfig:
    """What to collect, where to send it, and at what cadence."""

    # --- what to collect (the pitch's six flags) ---
    track_profiler: bool = False
    track_memory: bool = True
    track_throughput: bool = True
    track_layer_health: bool = True
    track_sustainability: bool = True
    track_carbon_emissions: bool = True

    # --- where the run goes ---
    server_url: str = field(default_factory=default_server_url)
    # The project by name; an alternative to Observer(project_id=...).
    project: str | None = None
    # Resume (or name) a run: 1-64 characters of A-Z a-z 0-9 . _ -.
    run_id: str | None = None
    # Spool only; upload later with atlas_observatory.sync() or `atlas sync`.
    offline: bool = False
    # Where records wait while the server is unreachable (None: libatlas's default,
    # $HOME/.atlas/spool), and at most how many bytes per run.
    spool_dir: str | None = None
    spool_max_bytes: int = 256 << 20
    # How long finish() waits for the last records to be sent or spooled.
    finish_timeout_s: float = 10.0
    # libatlas sender tuning (see core/include/atlas/client.hpp).
    request_timeout_s: float = 10.0
    batch_max_delay_s: float = 0.2
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    queue_capacity: int = 8192
    compression: Literal["none", "gzip", "zstd"] = "zstd"

    # --- control: stop, pause, adjust from the dashboard, the CLI or the API (docs/control.md) ---
    # Raise TrainingStopped at the next step after a stop (``with Observer(...)`` swallows it).
    raise_on_stop: bool = False
    # Hold at the next epoch end for a decision when atlasd finds a problem of this severity.
    pause_on: Literal["critical", "warning"] | None = None
    # How long a hold waits for a decision (0: forever), and what happens then.
    decision_timeout_s: float = 600.0
    decision_default: Literal["continue", "stop"] = "continue"
    # While nothing is sent (a quiet or paused training), ask atlasd for actions this often.
    control_poll_interval_s: float = 0.5

    # --- the step ---
    # Computes the loss from (logits, targets) in observer.step(); None means cross-entropy.
    loss_fn: LossFn | None = None
    # Whether observer.step() passes the targets to the model (nanoGPT's model(idx, targets)).
    # None decides from the forward's signature: a parameter named targets, target, labels or y.
    pass_targets: bool | None = None
    # On accelerators, loss tensors are copied to the host in one non-blocking batch every
    # this many steps, so no step waits for the device.
    loss_batch_steps: int = 16
    # Host memory and CPU use (and CUDA memory) are read on steps that are a multiple of
    # system_every_steps, at most once per system_interval_s seconds, and on each epoch's first
    # such step: they change slowly, and each reading costs a CPU step some 10-20 us.
    system_every_steps: int = 1
    system_interval_s: float = 0.1

    # --- layer health ---
    # A sample costs a small CPU step ~0.9 ms (CNN) to ~1.7 ms (transformer) inside a training
    # loop, and the step after it ~0.1 ms (bench/overhead): every 100 steps that is ~0.2 % of
    # their steps; runs that need more samples (short runs, the demo) set a smaller cadence.
    layer_health_every: int = 100
    # Per-unit arrays in a layer's `extra` keep at most this many units.
    layer_health_max_units: int = 1024
    # ReDo's threshold: a unit is dormant when its normalised mean |activation| is <= this.
    dormant_threshold: float = 0.1
    # Weight snapshots for update ratios: at most this many bytes of parameters per sample.
    update_ratio_max_bytes: int = 1 << 30
    # The gradient noise scale (critical batch size; only with track_layer_health): measured
    # over the `gradient_noise_window` steps that end at every `gradient_noise_every`-th step,
    # and sent on the next layer-health sample's record.
    track_gradient_noise: bool = True
    gradient_noise_every: int = 200
    gradient_noise_window: int = 8

    # --- profiler windows (only with track_profiler) ---
    profiler_every: int = 500
    profiler_warmup: int = 1
    profiler_window: int = 3
    profiler_top_ops: int = 20
    # The first window starts at this step (a few steps in, past start-up effects).
    profiler_first_step: int = 10

    # --- energy and carbon (docs/energy.md) ---
    # Who measures: libatlas's monitor (NVML, RAPL, documented models) or CodeCarbon.
    energy_backend: Literal["atlas", "codecarbon"] = "atlas"
    # Samples per second of the atlas backend (>= 10: GPUs without an energy counter are
    # measured by integrating power readings).
    energy_sample_hz: float = 10.0
    # The CPU and RAM models' scope: this process and its children, or the whole machine.
    energy_model_scope: Literal["process", "machine"] = "process"
    # The CPU's TDP in watts (all sockets) for the CPU model; None: the table, else 3.5 W per
    # logical CPU. Also given to CodeCarbon (force_cpu_power), so both use the same model.
    cpu_tdp_w: float | None = None
    # Grid intensity: an ISO 3166 alpha-3 country, a cloud region ("aws:eu-west-3"), or a
    # measured value in gCO2e/kWh that overrides both.
    country_iso_code: str | None = None
    cloud_region: str | None = None
    grid_g_co2_per_kwh: float | None = None
    pue: float = 1.0
    carbon_price_eur_per_t: float = 50.0
    # gCO2e per km of the car-km equivalent (None: atlasd's default) and a budget in kg.
    car_g_co2_per_km: float | None = None
    carbon_budget_kg: float | None = None

    def energy_settings(self) -> dict[str, object]:
        """The energy and carbon settings, as the run's config carries them (atlasd's
        carbon::ResolveSettings reads these keys)."""
        return {
            "track_sustainability": self.track_sustainability,
            "track_carbon_emissions": self.track_carbon_emissions,
            "energy_backend": self.energy_backend,
            "energy_sample_hz": self.energy_sample_hz,
            "energy_model_scope": self.energy_model_scope,
            "cpu_tdp_w": self.cpu_tdp_w,
            "country_iso_code": self.country_iso_code,
            "cloud_region": self.cloud_region,
            "grid_g_co2_per_kwh": self.grid_g_co2_per_kwh,
            "pue": self.pue,
            "carbon_price_eur_per_t": self.carbon_price_eur_per_t,
            "car_g_co2_per_km": self.car_g_co2_per_km,
            "carbon_budget_kg": self.carbon_budget_kg,
        }

    def check(self) -> None:
        """Raises ValueError naming the first setting that cannot work."""
        positive_ints = {
            "loss_batch_steps": self.loss_batch_steps,
            "system_every_steps": self.system_every_steps,
            "layer_health_every": self.layer_health_every,
            "layer_health_max_units": self.layer_health_max_units,
            "gradient_noise_every": self.gradient_noise_every,
            "profiler_every": self.profiler_every,
            "profiler_window": self.profiler_window,
            "profiler_top_ops": self.profiler_top_ops,
            "queue_capacity": self.queue_capacity,
        }
        for name, value in positive_ints.items():
            if value < 1:
                raise ValueError(f"ObserverConfig.{name} must be >= 1, got {value}")
        for name, number in {
            "profiler_warmup": self.profiler_warmup,
            "profiler_first_step": self.profiler_first_step,
            "spool_max_bytes": self.spool_max_bytes,
            "update_ratio_max_bytes": self.update_ratio_max_bytes,
            "system_interval_s": self.system_interval_s,
        }.items():
            if not number >= 0:
                raise ValueError(f"ObserverConfig.{name} must be >= 0, got {number}")
        if not 2 <= self.gradient_noise_window <= self.gradient_noise_every:
            raise ValueError(
                "ObserverConfig.gradient_noise_window must be >= 2 (two batch sizes) and <= "
                f"gradient_noise_every, got {self.gradient_noise_window}"
            )
        if self.profiler_warmup + self.profiler_window > self.profiler_every:
            raise ValueError(
                "ObserverConfig.profiler_warmup + profiler_window must fit in profiler_every"
            )
        if self.pause_on not in (None, "critical", "warning"):
            raise ValueError(
                f"ObserverConfig.pause_on must be critical, warning or None: {self.pause_on!r}"
            )
        if self.decision_default not in ("continue", "stop"):
            raise ValueError(
                f"ObserverConfig.decision_default must be continue or stop: "
                f"{self.decision_default!r}"
            )
        if self.decision_timeout_s < 0:
            raise ValueError("ObserverConfig.decision_timeout_s must be >= 0")
        if self.control_poll_interval_s <= 0:
            raise ValueError("ObserverConfig.control_poll_interval_s must be > 0")
        if self.pue < 1.0:
            raise ValueError(f"ObserverConfig.pue must be >= 1, got {self.pue}")
        self._check_energy()

    def _check_energy(self) -> None:
        if self.energy_backend not in ("atlas", "codecarbon"):
            raise ValueError(
                f"ObserverConfig.energy_backend must be atlas or codecarbon: "
                f"{self.energy_backend!r}"
            )
        if self.energy_model_scope not in ("process", "machine"):
            raise ValueError(
                f"ObserverConfig.energy_model_scope must be process or machine: "
                f"{self.energy_model_scope!r}"
            )
        if not 10.0 <= self.energy_sample_hz <= 1000.0:
            raise ValueError(
                f"ObserverConfig.energy_sample_hz must be in [10, 1000], got "
                f"{self.energy_sample_hz}"
            )
        for name, value in {
            "cpu_tdp_w": self.cpu_tdp_w,
            "grid_g_co2_per_kwh": self.grid_g_co2_per_kwh,
            "car_g_co2_per_km": self.car_g_co2_per_km,
            "carbon_budget_kg": self.carbon_budget_kg,
        }.items():
            if value is not None and not value >= 0:
                raise ValueError(f"ObserverConfig.{name} must be >= 0, got {value}")
