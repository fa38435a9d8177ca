"""Type stubs of the native module (python/src/binding.cpp): libatlas for Python.

Every call that may wait (flush, shutdown, finish, sync) releases the GIL while it waits.
A libatlas Status becomes one of the exceptions below (``code`` names the status).
"""

from collections.abc import Sequence
from typing import Any

STEP_FIELDS: tuple[str, ...]
JSON_RECORD_KINDS: tuple[str, ...]

class AtlasError(Exception):
    code: str
    report: dict[str, object] | None

class InvalidArgumentError(AtlasError, ValueError): ...
class NotFoundError(AtlasError, LookupError): ...
class ConflictError(AtlasError): ...
class UnavailableError(AtlasError): ...
class InternalError(AtlasError): ...
class IoError(AtlasError, OSError): ...

class ClientConfig:
    server_url: str
    project: str
    project_id: int | None
    run_name: str
    run_id: str
    first_seq: int
    host_json: str
    device_json: str
    framework_json: str
    config_json: str
    spool_dir: str
    spool_max_bytes: int
    offline: bool
    queue_capacity: int
    batch_max_records: int
    batch_max_bytes: int
    compression: str
    batch_max_delay_s: float
    request_timeout_s: float
    backoff_base_s: float
    backoff_cap_s: float
    control_poll_interval_s: float
    def __init__(self) -> None: ...

class Client:
    @staticmethod
    def start(config: ClientConfig) -> Client: ...
    def record(
        self,
        step: int,
        fields: dict[str, float] | None = None,
        metrics: dict[str, float] | None = None,
        *,
        epoch: int | None = None,
        ts: float = 0.0,
    ) -> bool: ...
    def record_json(self, kind: str, json: str) -> bool: ...
    def flush(self, timeout_s: float) -> None: ...
    def shutdown(self, timeout_s: float) -> None: ...
    def finish(self, status: str, reason: str, timeout_s: float) -> None: ...
    def stats(self) -> dict[str, object]: ...
    def health(self) -> tuple[str, str]: ...
    def poll_actions(self) -> list[dict[str, Any]]: ...
    def ack_action(self, id: int, applied: bool, detail: str = "") -> None: ...
    def report_decision(self, action: str, mode: str, actor: str, reason: str) -> None: ...
    def set_control_registration(self, json: str) -> None: ...
    @property
    def run_id(self) -> str: ...
    @property
    def spool_path(self) -> str: ...

class EnergyMonitor:
    """libatlas's energy monitor (energy_binding.cpp, docs/energy.md). total_joules and
    component_joules are lock-free; the dicts of sample_now/latest are snapshots:
    {"seconds", "total_joules", "sample", "devices": [{"component", "device", "name",
    "method", "joules", "power_w", "degraded", and for GPUs "utilization_percent",
    "memory_used_bytes", "memory_total_bytes", "power_limit_w"}]}."""

    @staticmethod
    def create(
        sample_hz: float = 10.0,
        gpu_indices: Sequence[int] = (),
        rapl: bool = True,
        model_scope: str = "process",
        cpu_tdp_w: float | None = None,
        ram_w_per_gb: float | None = None,
        nvml_library: str = "libnvidia-ml.so.1",
        sysfs_root: str = "/sys",
        procfs_root: str = "/proc",
        pid: int = 0,
    ) -> EnergyMonitor: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def total_joules(self) -> float: ...
    def component_joules(self, component: str) -> float: ...
    def sample_now(self) -> dict[str, Any]: ...
    def latest(self) -> dict[str, Any]: ...
    def notes(self) -> list[str]: ...

class StepRecorder:
    """libatlas's StepRecorder (atlas/step_recorder.hpp, step_binding.cpp): the Observer's
    per-step times, throughput, CPU use, resident memory and energy windows. Training thread
    only. close_and_send enqueues the closed step's record into `client`; close_fields returns
    (step, epoch, ts, fields) for the deferred path instead. Both are None/False when no step
    is open."""

    def __init__(
        self,
        throughput: bool = True,
        cpu: bool = True,
        memory: bool = True,
        resources_every: int = 1,
        usable_cpus: float = 1.0,
    ) -> None: ...
    def set_energy(self, monitor: Any | None) -> None: ...
    def begin(self) -> None: ...
    def forward_start(self) -> None: ...
    def forward_end(self) -> None: ...
    def backward_start(self) -> None: ...
    def end(
        self,
        step: int,
        epoch: int | None,
        loss: float | None,
        samples: float | None,
        tokens: float | None,
        timing: str,
    ) -> None: ...
    def optimizer_begin(self) -> None: ...
    def optimizer_end(self, lr: float | None) -> None: ...
    def mark_idle(self) -> None: ...
    def energy_epoch_end(self, joules: float) -> None: ...
    @property
    def open(self) -> bool: ...
    @property
    def open_step(self) -> int: ...
    def close_and_send(self, client: Client) -> bool: ...
    def close_fields(self) -> tuple[int, int | None, float, dict[str, float]] | None: ...
    def add_epoch_loss(self, epoch: int, loss: float) -> None: ...
    def take_epoch_loss(self, epoch: int) -> tuple[float, int]: ...

def sync(
    path: str,
    server_url: str,
    remove_when_done: bool = True,
    timeout_s: float = 30.0,
    compression: str = "zstd",
) -> dict[str, object]: ...
def list_spool_files(dir: str) -> list[str]: ...
def spool_path_for(dir: str, run_id: str) -> str: ...
def new_run_id() -> str: ...

# Layer health's CPU kernels (see layer_health.py). Tensors are CPU, C-contiguous, float32
# inputs and float64 outputs (anything with __dlpack__); each call releases the GIL while it
# works.
def accumulate_units(a: Any, units: int, inner: int, saturation: int, acc: Any) -> None: ...
def tensor_stats(tensors: Sequence[Any], out: Any, copies: Sequence[Any | None] = ...) -> None: ...
def squared_distances(a: Sequence[Any], b: Sequence[Any], out: Any) -> None: ...
def layer_stats_json(
    step: int,
    epoch: int | None,
    ts: float,
    layers: Sequence[
        tuple[
            str,
            Sequence[tuple[str, float]],
            Sequence[tuple[str, float]],
            Sequence[tuple[str, Any, float]],
        ]
    ],
) -> str: ...
def host_layer_stats_json(
    step: int,
    epoch: int | None,
    ts: float,
    layers: Sequence[tuple[str, Any | None, int, int, bool]],
    param_layer: Sequence[int],
    param_size: Sequence[int],
    weight_stats: Any,
    grad_param: Sequence[int],
    grad_stats: Any,
    update_param: Sequence[int],
    update_sq: Any,
    dormant_threshold: float,
    max_units: int,
    root_extra: Sequence[tuple[str, float]],
) -> str: ...
