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

    # --- the step ---
    # Computes the loss from (logits, targets) in observer.step(); None means cross-entropy.
    loss_fn: LossFn | None = None
    # Whether observer.step() passes the targets to the model (nanoGPT's model(idx, targets)).
    # None decides from the forward's signature: a parameter named targets, target, labels or y.
    pass_targets: bool | None = None
    # On accelerators, loss tensors are copied to the host in one non-blocking batch every
    # this many steps, so no step waits for the device.
    loss_batch_steps: int = 16
    # Host memory and CPU use are read every this many steps (and at every epoch end).
    system_every_steps: int = 1

    # --- layer health ---
    layer_health_every: int = 50
    # Per-unit arrays in a layer's `extra` keep at most this many units.
    layer_health_max_units: int = 1024
    # ReDo's threshold: a unit is dormant when its normalised mean |activation| is <= this.
    dormant_threshold: float = 0.1
    # Weight snapshots for update ratios: at most this many bytes of parameters per sample.
    update_ratio_max_bytes: int = 1 << 30

    # --- profiler windows (only with track_profiler) ---
    profiler_every: int = 500
    profiler_warmup: int = 1
    profiler_window: int = 3
    profiler_top_ops: int = 20
    # The first window starts at this step (a few steps in, past start-up effects).
    profiler_first_step: int = 10

    # --- energy (placeholders for the energy issue: carried in the run's config for now) ---
    country_iso_code: str | None = None
    pue: float = 1.0
    carbon_price_eur_per_t: float = 50.0

    def energy_settings(self) -> dict[str, object]:
        """The energy and carbon settings, as the run's config carries them."""
        return {
            "track_sustainability": self.track_sustainability,
            "track_carbon_emissions": self.track_carbon_emissions,
            "country_iso_code": self.country_iso_code,
            "pue": self.pue,
            "carbon_price_eur_per_t": self.carbon_price_eur_per_t,
        }

    def check(self) -> None:
        """Raises ValueError naming the first setting that cannot work."""
        positive_ints = {
            "loss_batch_steps": self.loss_batch_steps,
            "system_every_steps": self.system_every_steps,
            "layer_health_every": self.layer_health_every,
            "layer_health_max_units": self.layer_health_max_units,
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
        }.items():
            if number < 0:
                raise ValueError(f"ObserverConfig.{name} must be >= 0, got {number}")
        if self.profiler_warmup + self.profiler_window > self.profiler_every:
            raise ValueError(
                "ObserverConfig.profiler_warmup + profiler_window must fit in profiler_every"
            )
        if self.pue < 1.0:
            raise ValueError(f"ObserverConfig.pue must be >= 1, got {self.pue}")
