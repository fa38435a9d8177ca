"""The Observer: the pitch's API over libatlas.

    observer = Observer(project_id=1, run_name="my-run", config=ObserverConfig(...))
    observer.log_hyperparameters({...})
    observer.register_model(model)
    for epoch in range(num_epochs):
        for x, y in loader:
            logits, loss = observer.step(model, x, y)   # forward, loss, backward, instrumented
            optimizer.step(); optimizer.zero_grad(set_to_none=True)
        observer.end_epoch(val_loss=val_loss, val_accuracy=val_acc)
    observer.finish()

How a step is accounted: a step's window runs from the end of the previous step to its own end,
where a step ends when its optimizer step has run (seen through torch's global optimizer hooks)
or, without one, when ``step()`` returned. ``data_ms`` is the part of the window before
``step()`` was called (data loading, ``.to(device)``, zero_grad), ``step_ms`` the whole window,
and throughput is samples (or tokens) over ``step_ms``. A step record is therefore completed when
the next step begins (or at ``end_epoch``/``finish``), and on CUDA later still, once its loss has
reached the host without a synchronisation (see deferred.py).

Every public method runs its telemetry inside the Observer's containment (containment.py): a
telemetry failure is contained, counted, logged once and reported to the run, and training goes
on. The user's own computation inside ``step()`` (forward, loss, backward) is not telemetry: its
exceptions are the user's and propagate unchanged. An Observer whose set-up fails degrades to a
no-op (``step()`` still trains) and says so once.

Threading: an Observer is used from the training thread. In a fork()ed child (a DataLoader
worker) it does nothing: the child's copy must not speak for the parent's run.
"""

from __future__ import annotations

import os
import time
import traceback
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import lifecycle
from .architecture import FirstForward, ModuleRow, architecture_record, module_table
from .config import ObserverConfig
from .containment import Containment, format_error, logger
from .control import Controller, TrainingStopped
from .deferred import CudaTiming, EventPool, PendingStep, StepQueue
from .energy import EnergyTracker, open_energy
from .gradient_noise import GradientNoise, in_window
from .hostinfo import device_info, framework_info, host_info, usable_cpu_count
from .jsonsafe import dumps, telemetry_number, to_jsonable
from .layer_health import LayerHealth
from .modelinfo import (
    batch_counts,
    data_parallel_ranks,
    first_tensor,
    is_compiled,
    parameter_device,
    split_output,
    targets_parameter,
    unwrap,
)
from .optim_hooks import OptimizerWatch, learning_rate
from .profiling import ProfilerWindows
from .resume import first_seq, resume_point
from .run_settings import first_float_parameter, probe_forward
from .system import ResourceSampler

__all__ = ["Observer", "StepTracker", "default_loss"]

_FINISH_STATUSES = ("completed", "failed", "stopped")
_MAX_METRIC_NAME = 128
# A finish reason (a traceback) may be at most 64 KiB; characters may take up to 4 bytes.
_MAX_REASON_CHARS = 16_000


def default_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; for sequence logits (B, T, V) with targets (B, T), over every position."""
    if logits.dim() > 2 and tuple(targets.shape) == tuple(logits.shape[:-1]):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return F.cross_entropy(logits, targets)


class _StepState:
    """What the Observer knows about the step in progress inside step(); its times are kept
    by libatlas's StepRecorder."""

    __slots__ = ("step", "timing")

    def __init__(self, step: int) -> None:
        self.step = step
        self.timing: CudaTiming | None = None


class StepTracker:
    """The handle of ``with observer.track_step(...) as s``: set ``s.loss`` (a tensor or a
    number) and add ``s.metrics[...]``; ``s.batch_size`` and ``s.tokens`` may be set late."""

    def __init__(self, observer: Observer, batch_size: int | None, tokens: int | None) -> None:
        self._observer = observer
        self.loss: Any = None
        self.batch_size = batch_size
        self.tokens = tokens
        self.metrics: dict[str, Any] = {}

    def __enter__(self) -> StepTracker:
        self._observer._track_enter(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._observer._track_exit(self, failed=exc is not None)


class Observer:
    """Instruments a PyTorch training loop and streams its telemetry to atlasd (module docs)."""

    def __init__(
        self,
        project_id: int | None = None,
        run_name: str | None = None,
        config: ObserverConfig | None = None,
        *,
        project: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self._pid = os.getpid()
        self._config = config if config is not None else ObserverConfig()
        self._containment = Containment()
        self._active = False
        self._finished = False
        self._client: Any = None
        self._run_id: str | None = None
        self._run_name = run_name
        self._next_step = 0
        self._epoch = 0
        self._epoch_started = time.perf_counter()
        # libatlas's StepRecorder (atlas/step_recorder.hpp): the times, throughput, resources
        # and energy of each step, and the step record itself when all its values are known.
        self._recorder: Any = None
        # The open step's values the recorder cannot hold (a loss still on the device, user
        # metrics, CUDA timing events): such a step goes through the deferred path instead.
        self._open_pending: PendingStep | None = None
        self._opt_events: tuple[Any, Any] | None = None
        # The fast path of step() (_fast_step) serves steps before this one, planned by the
        # full path (_plan_fast_steps); the full path closes the steps it opened.
        self._fast_until = 0
        self._close_slow = False
        self._model: nn.Module | None = None
        self._root: nn.Module | None = None
        self._compiled = False
        self._rows: list[ModuleRow] = []
        self._first_forward: FirstForward | None = None
        self._architecture_done = False
        self._targets_name: str | None = None
        self._layer_health: LayerHealth | None = None
        # The gradient noise scale (gradient_noise.py): the step that ends the window in
        # progress, the reading that waits for the next layer_stats record, and the ranks a
        # data-parallel gradient averages over. The recorder counts the samples of the steps
        # since the last observation (add_noise_samples, take_noise_samples).
        self._noise: GradientNoise | None = None
        self._noise_end: int | None = None
        self._noise_extra: dict[str, float] | None = None
        self._noise_ranks = 1
        # The parameters the loop's optimizers update (ids; None until one is seen): the noise
        # scale is measured on those only, as they are what the gradient steps move.
        self._noise_param_ids: set[int] | None = None
        self._noise_optimizers: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        # The measured device and precision (run_settings.py), sent once after the first
        # training forward; hyperparameter keys the user logged are not overridden.
        self._settings_param: torch.Tensor | None = None
        self._settings_hook: Any = None
        self._settings_sent = False
        self._user_keys: set[str] = set()
        self._optimizers: OptimizerWatch | None = None
        self._profiler: ProfilerWindows | None = None
        self._profile_phase: Any = None
        self._events = EventPool()
        self._cuda_timing = False
        self._queue = StepQueue(self._emit_step, self._config.loss_batch_steps)
        self._resources: ResourceSampler | None = None
        self._tracking = False  # inside a track_step block
        self._energy: EnergyTracker | None = None
        self._control: Controller | None = None
        with self._containment.capture("observer.start"):
            self._start(project_id, project, run_id)
        if not self._active:
            logger.warning(
                "atlas_observatory: the Observer could not start, so it records nothing for "
                "this run (training is not affected); see the error logged above"
            )

    # ----- set-up -----

    def _start(self, project_id: int | None, project: str | None, run_id: str | None) -> None:
        from . import _atlas

        config = self._config
        config.check()
        # An argument wins over the config's setting; giving both project and project_id as
        # arguments is an error that libatlas reports.
        if project is None and project_id is None:
            project = config.project
        run_id = run_id if run_id is not None else config.run_id
        if project_id is None and project is None:
            project = "default"
        if run_id is not None and not config.offline:
            point = resume_point(config.server_url, run_id)
            if point is not None and point.existed:
                self._next_step, self._epoch = point.next_step, point.next_epoch
        native = _atlas.ClientConfig()
        native.server_url = config.server_url
        native.project = project or ""
        native.project_id = project_id
        native.run_name = self._run_name or ""
        native.run_id = run_id or ""
        native.first_seq = first_seq(run_id is not None)
        native.host_json = dumps(host_info())
        native.device_json = dumps(self._open_energy(device_info()))
        native.framework_json = dumps(framework_info())
        native.config_json = dumps(self._run_config())
        native.spool_dir = config.spool_dir or ""
        native.spool_max_bytes = config.spool_max_bytes
        native.offline = config.offline
        native.queue_capacity = config.queue_capacity
        native.request_timeout_s = config.request_timeout_s
        native.batch_max_delay_s = config.batch_max_delay_s
        native.backoff_base_s = config.backoff_base_s
        native.backoff_cap_s = config.backoff_cap_s
        native.compression = config.compression
        native.control_poll_interval_s = config.control_poll_interval_s
        self._client = _atlas.Client.start(native)
        self._run_id = self._client.run_id
        if not config.offline:
            self._control = Controller(self._client, config, self._control_event)
        self._recorder = _atlas.StepRecorder(
            throughput=config.track_throughput,
            memory=config.track_memory,
            resources_every=config.system_every_steps,
            resources_interval_s=config.system_interval_s,
            usable_cpus=float(usable_cpu_count()),
        )
        self._recorder.set_client(self._client)
        self._recorder.set_tensor_types(torch.Tensor, torch.bool, torch.float32, torch.float64)
        self._resources = ResourceSampler(config.track_memory, None, config.system_interval_s)
        self._start_energy()
        if config.track_profiler:
            self._profiler = ProfilerWindows(config, self._containment, self._emit_json)
        self._containment.set_reporter(self._report_error)
        self._active = True
        lifecycle.register(self)

    def _open_energy(self, device: dict[str, Any]) -> dict[str, Any]:
        """Opens the energy backend (energy.py) and adds what it measures, and how, to the
        run's device info. A backend that fails to open costs the energy figures only."""
        with self._containment.capture("energy.open"):
            self._energy = open_energy(self._config)
            if self._energy is not None:
                device["energy"] = self._energy.describe()
        return device

    def _start_energy(self) -> None:
        if self._energy is None:
            return
        with self._containment.capture("energy.start"):
            try:
                self._energy.start()
                self._recorder.set_energy(self._energy.step_source())
            except BaseException:
                self._energy = None
                raise

    def _run_config(self) -> dict[str, Any]:
        config = self._config
        tracked = {
            "track_profiler": config.track_profiler,
            "track_memory": config.track_memory,
            "track_throughput": config.track_throughput,
            "track_layer_health": config.track_layer_health,
        }
        return {
            "observer": {
                **tracked,
                "layer_health_every": config.layer_health_every,
                "track_gradient_noise": config.track_gradient_noise,
                "gradient_noise_every": config.gradient_noise_every,
                "gradient_noise_window": config.gradient_noise_window,
                "profiler_every": config.profiler_every,
                "profiler_window": config.profiler_window,
                "loss_fn": config.loss_fn,
            },
            "energy": config.energy_settings(),
        }

    # ----- properties -----

    @property
    def run_id(self) -> str | None:
        """The run's id (chosen, or made by libatlas); None when the Observer is a no-op."""
        return self._run_id

    @property
    def enabled(self) -> bool:
        """Whether telemetry is being recorded (False after a failed set-up or in a child)."""
        return self._active and not self._finished and lifecycle.current_pid == self._pid

    @property
    def should_stop(self) -> bool:
        """Whether the run was asked to stop (from the dashboard, the CLI or the API): at once
        for a stop at the step's end, when the epoch ends for a stop at the epoch's end.
        ``epochs(n)`` ends early on it; loops over batches should check it too."""
        return self._control is not None and self._control.stopped

    def register_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Lets ``atlas adjust RUN --lr 0.5x`` (or the dashboard) change the learning rate of
        every param group of `optimizer`, between steps."""
        if self._control is not None:
            with self._containment.capture("register_optimizer"):
                self._control.register_optimizer(optimizer)

    def register_adjustable(
        self, name: str, getter: Callable[[], float], setter: Callable[[float], None]
    ) -> None:
        """Makes another value adjustable (``atlas adjust RUN --set name=0.5x``): `setter`
        receives the new value between steps, computed from `getter`'s for a multiply."""
        if self._control is not None:
            with self._containment.capture("register_adjustable"):
                self._control.register_adjustable(name, getter, setter)

    @property
    def step_count(self) -> int:
        """The number the next step will get."""
        return self._next_step

    @property
    def epoch(self) -> int:
        """The number of the epoch in progress."""
        return self._epoch

    @property
    def config(self) -> ObserverConfig:
        return self._config

    # ----- hyperparameters and model -----

    def log_hyperparameters(self, params: Mapping[str, Any]) -> None:
        """Records hyperparameters (merged key by key into the run's)."""
        if not self.enabled:
            return
        with self._containment.capture("log_hyperparameters"):
            self._user_keys.update(str(key) for key in params)
            self._emit_json("hyperparameters", dumps({"values": dict(params)}))

    def register_model(self, model: nn.Module) -> None:
        """Records the model's architecture and prepares shape, FLOPs and layer-health capture."""
        if not self.enabled:
            return
        with self._containment.capture("register_model"):
            self._register(model)

    def _register(self, model: nn.Module) -> None:
        if self._model is model:
            return
        self._set_fast_until(0)
        self._close_model()
        self._model = model
        self._compiled = is_compiled(model)
        root = unwrap(model)
        self._root = root
        self._targets_name = targets_parameter(model)
        self._rows = module_table(root)
        self._architecture_done = False
        self._emit_json("architecture", dumps(architecture_record(self._rows)))
        device = parameter_device(root)
        self._cuda_timing = device is not None and device.type == "cuda"
        if self._resources is not None:
            self._resources.set_device(device)
        parameter_ids = {id(p) for p in root.parameters()}
        if self._optimizers is None:
            self._optimizers = OptimizerWatch(
                parameter_ids,
                self._containment,
                self._optimizer_before,
                self._optimizer_after,
                self._learning_rate_of,
                self._recorder,
            )
        else:
            self._optimizers.set_parameters(parameter_ids)
        if self._config.track_layer_health:
            # Hooks on a compiled model's modules would make torch.compile recompile, so a
            # compiled model gets gradient and weight statistics only.
            self._layer_health = LayerHealth(
                root, self._config, self._containment, self._emit_json, not self._compiled
            )
            if self._config.track_gradient_noise:
                trained = [p for p in root.parameters() if p.requires_grad]
                self._noise = GradientNoise(trained)
                self._noise_ranks = data_parallel_ranks(model)
                self._noise_param_ids = None
                self._noise_optimizers = weakref.WeakSet()
                self._recorder.set_noise_windows(
                    self._config.gradient_noise_every, self._config.gradient_noise_window
                )
        self._install_settings_probe(root)
        if self._profiler is not None:
            self._profiler.set_model(root)
        if not self._compiled:
            # Shape hooks wait for the first forward, whichever way the loop is written.
            self._first_forward = FirstForward(self._rows, self._containment)
            self._first_forward.install()
        self._arm_health_if_due(self._next_step)

    def _close_model(self) -> None:
        self._remove_settings_probe()
        self._noise = None
        if self._recorder is not None:
            self._recorder.set_noise_windows(0, 0)
        self._noise_end = None
        if self._recorder is not None:
            self._recorder.take_noise_samples()
        if self._first_forward is not None:
            self._first_forward.remove()
            self._first_forward = None
        if self._layer_health is not None:
            self._layer_health.close(final=True)
            self._layer_health = None

    # ----- device and precision (run_settings.py) -----

    def _install_settings_probe(self, root: nn.Module) -> None:
        """Watches the first training forward for the model's device and precision: through
        a hook on the root module, or for a compiled model (where a hook would make it
        recompile) at the end of observer.step()."""
        self._settings_param = first_float_parameter(root)
        if self._settings_param is None or self._settings_sent or self._compiled:
            return
        self._settings_hook = root.register_forward_hook(self._settings_forward)

    def _remove_settings_probe(self) -> None:
        if self._settings_hook is not None:
            self._settings_hook.remove()
            self._settings_hook = None

    def _settings_forward(self, module: nn.Module, args: Any, output: Any) -> None:
        if not torch.is_grad_enabled():
            return  # an evaluation pass may run in another precision than training
        with self._containment.capture("run_settings"):
            self._remove_settings_probe()
            self._send_settings(first_tensor(output))

    def _send_settings(self, output: torch.Tensor | None) -> None:
        param = self._settings_param
        if self._settings_sent or param is None:
            return
        self._settings_sent = True
        settings = probe_forward(param, output)
        values = {k: v for k, v in settings.items() if k not in self._user_keys}
        if values:
            self._emit_json("hyperparameters", dumps({"values": values}))

    # ----- the gradient noise scale (gradient_noise.py) -----

    def _observe_noise(self, step: int) -> None:
        """Adds the final gradients of `step` (and of the micro-steps accumulated into them
        since the last observation) to the noise-scale window, when the step is in one."""
        noise = self._noise
        samples = self._recorder.take_noise_samples()
        if noise is None or samples <= 0:
            return
        every = self._config.gradient_noise_every
        if not in_window(step, every, self._config.gradient_noise_window):
            return
        end = -(-step // every) * every  # the step that ends the window
        if self._noise_end is not None and self._noise_end != end:
            self._close_noise_window()  # its last step was skipped (gradient accumulation)
        self._noise_end = end
        noise.observe(samples * self._noise_ranks)
        if step == end:
            self._close_noise_window()

    def _add_noise_samples(self, samples: int | None) -> None:
        """Micro-steps add up until the optimizer step (gradient accumulation); the recorder
        starts the count again after each optimizer step."""
        self._recorder.add_noise_samples(samples or 0)

    def _noise_follow(self, optimizer: torch.optim.Optimizer) -> None:
        """Restricts the noise scale to the parameters the optimizers update (a parameter that
        gets gradients but is in no optimizer does not train). Each optimizer is read once."""
        if optimizer in self._noise_optimizers:
            return
        self._noise_optimizers.add(optimizer)
        params = [p for group in optimizer.param_groups for p in group.get("params", ())]
        ids = (self._noise_param_ids or set()) | {id(p) for p in params}
        self._noise_param_ids = ids
        root = self._root
        if self._noise is not None and root is not None:
            self._noise.set_params([p for p in root.parameters() if id(p) in ids])

    def _close_noise_window(self) -> None:
        self._noise_end = None
        if self._noise is not None:
            reading = self._noise.end_window()
            if reading is not None:
                self._noise_extra = reading.extra()

    def _complete_health(self, health: LayerHealth) -> None:
        """Emits the sample's record, with the latest noise-scale reading (once) on its root
        entry."""
        extra, self._noise_extra = self._noise_extra, None
        health.complete(extra)

    # ----- observer.step -----

    def step(self, model: nn.Module, x: Any, y: Any) -> tuple[Any, torch.Tensor]:
        """Forward, loss and backward of one training step, instrumented; returns (logits, loss).

        The loss is the model's own when it returns (logits, loss), else ``config.loss_fn``
        (cross-entropy by default). The optimizer step stays the caller's."""
        if (
            self._next_step < self._fast_until
            and model is self._model
            and lifecycle.current_pid == self._pid
        ):
            # The fast path, between the steps that need more than timing and the step record
            # (layer-health samples, profiler windows, the first step, CUDA timing), as
            # _plan_fast_steps decides: one call into libatlas, which calls the model, the loss
            # and the backward itself. Written here, not in a method of its own: after a
            # backward every Python frame costs microseconds.
            control = self._control
            if control is not None and (self._client.has_actions or not control.quiet_at_step()):
                self._control_step()
            entered = self._close_slow
            if entered:
                self._enter_after_full_step()
            step = self._next_step
            logits, loss, status = self._recorder.fast_step(model, x, y, step, self._epoch, entered)
            self._next_step = step + 1
            if status:
                self._settle_fast_step(status, step, loss, x)
            return logits, loss
        return self._full_step(model, x, y)

    def _full_step(self, model: nn.Module, x: Any, y: Any) -> tuple[Any, torch.Tensor]:
        """step() with everything the Observer measures around a step."""
        if not self.enabled:
            return self._plain_step(model, x, y)
        self._control_step()
        recorder = self._recorder
        recorder.begin()
        state: _StepState | None = None
        with self._containment.capture("step.begin"):
            state = self._begin_step(model, x)
        self._phase_enter(state, "forward")
        recorder.forward_start()
        try:
            output = _call_model(model, x, y, self._config.pass_targets, self._targets_name)
        finally:
            with self._containment.capture("step.forward_end"):
                self._forward_end(state)
        logits, loss = self._split(output)
        if loss is None:
            loss = (self._config.loss_fn or default_loss)(logits, y)
        with self._containment.capture("step.backward_start"):
            self._backward_start(state)
        recorder.loss_ready()  # forward_ms: the model and the loss function, as in fast_step
        try:
            _backward(loss)
        finally:
            with self._containment.capture("step.backward_end"):
                self._backward_end(state)
        with self._containment.capture("step.end"):
            self._end_step(state, logits, loss, x)
            self._close_slow = True
            self._plan_fast_steps()
            self._contain_libatlas_errors()
        return logits, loss

    def _enter_after_full_step(self) -> None:
        """The first fast step after a full one begins here: the full path's step is closed by
        Python (it may hold device values or user metrics)."""
        self._close_slow = False
        recorder = self._recorder
        try:
            recorder.begin()
            try:
                self._close_open_step()
            finally:
                recorder.forward_start()
        except Exception as error:  # telemetry only; never the training's failure
            self._containment.contain("step.begin", error)

    def _settle_fast_step(self, status: int, step: int, loss: torch.Tensor, x: Any) -> None:
        """What a fast step left to Python: the errors libatlas kept, and the loss or batch its
        readers declined."""
        from . import _atlas

        if status & _atlas.FAST_STEP_ERRORS_KEPT:
            self._contain_libatlas_errors()
        if status & _atlas.FAST_STEP_READ_IN_PYTHON:
            with self._containment.capture("step.end"):
                self._leave_in_python(step, loss, x)

    def _leave_in_python(self, step: int, loss: torch.Tensor, x: Any) -> None:
        """The end of a fast step whose loss or batch libatlas's reader declined."""
        samples, tokens = batch_counts(x)
        value = _host_value("loss", loss)
        if value is None:  # a loss on an accelerator: the deferred path reads it
            pending = PendingStep(step, self._epoch, 0.0)
            pending.set_value(True, "loss", loss)
            self._open_pending = pending
            self._close_slow = True
        self._recorder.end(step, self._epoch, value, samples, tokens, "host")
        self._add_noise_samples(samples)

    def _contain_libatlas_errors(self) -> None:
        """The telemetry errors libatlas's StepRecorder kept (in a fast step, the optimizer
        hooks or an energy reading), counted and logged as the Observer's own."""
        for site, error in self._recorder.take_errors():
            self._containment.contain(site, error)

    def _plan_fast_steps(self) -> None:
        """Sets the first step from the next one that needs the full path of step(): the next
        layer-health sample or profiler window; now when the loop or the run needs the full
        path at every step (no optimizer step seen, a compiled model, CUDA timing, a sample or
        window in progress, device values in the queue)."""
        self._set_fast_until(0)
        step = self._next_step
        if (
            not self._optimizer_seen()
            or self._compiled
            or self._cuda_timing
            or not self._architecture_done
            or not self._queue.idle
        ):
            return
        until = step + (1 << 62)
        health = self._layer_health
        if health is not None:
            if health.armed:
                return
            every = self._config.layer_health_every
            until = min(until, -(-step // every) * every)
        profiler = self._profiler
        if profiler is not None:
            if profiler.active:
                return
            until = min(until, profiler.next_due(step))
        passing, name = self._config.pass_targets, self._targets_name
        self._recorder.set_fast_forward(
            name if name is not None and passing is not False else None,
            bool(passing),
            self._config.loss_fn or default_loss,
            split_output,
        )
        self._set_fast_until(until)

    def _set_fast_until(self, step: int) -> None:
        """Steps before `step` take the fast path, and their optimizer steps are timed by
        libatlas's hooks alone (from `step` on they call _optimizer_before/_after)."""
        self._fast_until = step
        if self._recorder is not None:
            self._recorder.set_python_from(step)

    def _plain_step(self, model: nn.Module, x: Any, y: Any) -> tuple[Any, torch.Tensor]:
        """step() without telemetry: what a no-op Observer still owes the training loop."""
        passing = self._config.pass_targets
        name = None
        if passing is not False:
            name = self._targets_name if self._model is model else targets_parameter(model)
        output = _call_model(model, x, y, passing, name)
        logits, loss = split_output(output)
        if loss is None:
            loss = (self._config.loss_fn or default_loss)(logits, y)
        _backward(loss)
        return logits, loss

    def _split(self, output: Any) -> tuple[Any, torch.Tensor | None]:
        with self._containment.capture("step.split_output"):
            return split_output(output)
        return output, None

    def _begin_step(self, model: nn.Module, x: Any) -> _StepState:
        capture = self._containment.capture
        self._close_open_step()
        if self._model is not model:
            with capture("register_model"):
                if unwrap(model) is not self._root or is_compiled(model) != self._compiled:
                    self._register(model)
        step = self._next_step
        state = _StepState(step)
        if self._profiler is not None:
            with capture("profiler"):
                self._profiler.on_step_start(step)
        with capture("layer_health.arm"):
            self._arm_health_if_due(step)
        if not self._architecture_done:
            with capture("architecture.first_forward"):
                if self._compiled:
                    self._watch_compiled_first_forward(x)
                elif self._first_forward is not None:
                    self._first_forward.start_counting()
        if self._cuda_timing:
            with capture("timing"):
                state.timing = CudaTiming(self._events, start=self._events.record())
        return state

    def _watch_compiled_first_forward(self, x: Any) -> None:
        """A compiled model's shapes and FLOPs, from one extra eager forward of the original
        module (hooks inside a compiled forward would make it recompile)."""
        root = self._root
        if root is None:
            return
        watch = FirstForward(self._rows, self._containment)
        self._first_forward = watch
        watch.install()
        watch.start_counting()
        try:
            with torch.no_grad():
                root(x)
        finally:
            watch.stop_counting()
            self._complete_architecture()

    def _phase_enter(self, state: _StepState | None, name: str) -> None:
        if self._profiler is None:
            return  # the common case, decided without entering the containment
        with self._containment.capture("profiler.phase"):
            if self._profiler is not None and self._profiler.active and state is not None:
                self._profile_phase = self._profiler.phase(name)
                self._profile_phase.__enter__()

    def _phase_exit(self) -> None:
        if self._profile_phase is None:
            return
        with self._containment.capture("profiler.phase"):
            phase, self._profile_phase = self._profile_phase, None
            if phase is not None:
                phase.__exit__(None, None, None)

    def _forward_end(self, state: _StepState | None) -> None:
        self._phase_exit()
        if state is None:
            return
        if state.timing is not None:
            state.timing.forward_end = self._events.record()
        if self._first_forward is not None and not self._architecture_done:
            self._first_forward.stop_counting()
            if self._first_forward.seen_forward:
                self._complete_architecture()
        if self._layer_health is not None:
            self._layer_health.stop_activations()

    def _backward_start(self, state: _StepState | None) -> None:
        if state is not None:
            self._phase_enter(state, "backward")

    def _backward_end(self, state: _StepState | None) -> None:
        self._phase_exit()
        if state is not None and state.timing is not None:
            state.timing.backward_end = self._events.record()

    def _end_step(self, state: _StepState | None, logits: Any, loss: torch.Tensor, x: Any) -> None:
        if state is None:
            return
        samples, tokens = batch_counts(x)
        value = _host_value("loss", loss)
        if value is None or state.timing is not None or not self._queue.idle:
            # The deferred path: a value still on the device, CUDA events to read, or earlier
            # steps waiting for theirs (nothing overtakes them).
            pending = PendingStep(state.step, self._epoch, 0.0)
            if value is None:
                pending.set_value(True, "loss", loss)
            pending.timing = state.timing
            self._open_pending = pending
        self._recorder.end(
            state.step,
            self._epoch,
            value,
            samples,
            tokens,
            "host" if state.timing is None else "device",
        )
        if self._optimizer_seen():
            self._add_noise_samples(samples)
        else:
            # No optimizer step seen: gradients are final now. Step 0 does not count for the
            # noise scale: whether an optimizer step follows it is not known yet.
            self._recorder.take_noise_samples()
            self._recorder.add_noise_samples(samples or 0)
            if state.step > 0:
                with self._containment.capture("gradient_noise"):
                    self._observe_noise(state.step)
            health = self._layer_health
            if health is not None and health.armed:
                health.collect()
        if not self._settings_sent and self._compiled:
            with self._containment.capture("run_settings"):
                self._send_settings(loss if logits is None else first_tensor(logits))
        self._next_step = state.step + 1

    def _optimizer_seen(self) -> bool:
        return self._optimizers is not None and self._optimizers.seen

    # ----- manual steps: log_step and track_step -----

    def log_step(
        self,
        loss: Any = None,
        batch_size: int | None = None,
        tokens: int | None = None,
        **metrics: Any,
    ) -> None:
        """Records a step the caller ran itself (AMP, gradient accumulation, several losses).

        Call it after the step's optimizer step. ``loss`` and metric values may be numbers or
        one-element tensors (read without a synchronisation, see deferred.py); a metric named
        like a step field (``lr``, ``forward_ms``, ...) sets that field."""
        if not self.enabled:
            return
        with self._containment.capture("log_step"):
            self._close_open_step()
            self._open_manual(loss, metrics, batch_size, tokens)
            self._close_open_step()
            # The next step's forward runs before the next call: arm its sample now.
            self._arm_health_if_due(self._next_step)
            if self._profiler is not None:
                self._profiler.on_step_start(self._next_step)
        self._control_step()

    def track_step(self, batch_size: int | None = None, tokens: int | None = None) -> StepTracker:
        """A context manager around a step the caller runs itself; see StepTracker."""
        return StepTracker(self, batch_size, tokens)

    def _track_enter(self, tracker: StepTracker) -> None:
        if not self.enabled:
            return
        self._control_step()
        with self._containment.capture("track_step.enter"):
            self._close_open_step()
            if tracker.batch_size is not None:
                # The step's optimizer step (inside the block) reads it for the noise scale.
                self._add_noise_samples(tracker.batch_size)
            self._recorder.begin()
            self._tracking = True
            if self._profiler is not None:
                self._profiler.on_step_start(self._next_step)
            self._arm_health_if_due(self._next_step)

    def _track_exit(self, tracker: StepTracker, failed: bool) -> None:
        if not self.enabled or not self._tracking:
            return
        with self._containment.capture("track_step.exit"):
            self._tracking = False
            if failed:
                if self._layer_health is not None:
                    self._layer_health.close()
                return
            self._open_manual(tracker.loss, tracker.metrics, tracker.batch_size, tracker.tokens)
            self._close_open_step()

    def _open_manual(
        self, loss: Any, metrics: Mapping[str, Any], samples: int | None, tokens: int | None
    ) -> None:
        """Opens the record of a step the caller ran (log_step, track_step): its wall time
        runs from the previous step's end to now."""
        from ._atlas import STEP_FIELDS

        value: float | None = None
        pending: PendingStep | None = None
        if loss is not None:
            value = _host_value("loss", loss)
            if value is None:
                pending = PendingStep(self._next_step, self._epoch, 0.0)
                pending.set_value(True, "loss", loss)
        for name, metric in metrics.items():
            if metric is None:
                continue
            with self._containment.capture("log_step.metric"):
                if not 0 < len(name) <= _MAX_METRIC_NAME:
                    raise ValueError(f"metric name {name!r} must be 1-128 characters")
                if pending is None:
                    pending = PendingStep(self._next_step, self._epoch, 0.0)
                pending.set_value(name in STEP_FIELDS, name, metric)
        if pending is None and not self._queue.idle:
            pending = PendingStep(self._next_step, self._epoch, 0.0)
        self._open_pending = pending
        self._recorder.end(self._next_step, self._epoch, value, samples, tokens, "none")
        self._next_step += 1

    # ----- closing a step -----

    def _close_open_step(self) -> None:
        """Completes the open step's record and sends it (straight from libatlas when every
        value is known, else through the deferred queue); finishes its layer-health sample.
        Each collector is contained on its own, so one that fails costs its own fields, never
        the step record."""
        capture = self._containment.capture
        recorder = self._recorder
        if not recorder.open:
            recorder.flush_losses()
            if not self._queue.idle:
                with capture("step.queue"):
                    self._queue.poll()
            return
        step = recorder.open_step
        pending, self._open_pending = self._open_pending, None
        opt_events, self._opt_events = self._opt_events, None
        if pending is None:
            with capture("step.record"):
                recorder.close_and_send()
            if opt_events is not None:
                self._events.release(*opt_events)
        else:
            self._close_deferred(pending, opt_events)
        health = self._layer_health
        if health is not None and health.armed:
            with capture("layer_health"):
                try:
                    health.collect()
                    self._complete_health(health)
                finally:
                    if health.armed:  # it failed halfway: drop the sample, arm the next
                        health.close()
        first = self._first_forward
        if first is not None and first.seen_forward and not self._architecture_done:
            with capture("architecture"):
                self._complete_architecture()
        if self._profiler is not None:
            with capture("profiler"):
                self._profiler.on_step_end(step)

    def _close_deferred(self, pending: PendingStep, opt_events: tuple[Any, Any] | None) -> None:
        """The deferred path of a closing step: the recorder's fields join the values that
        wait for the device (and the user's metrics, which win over a field of the same name),
        and the step queues until they are read."""
        capture = self._containment.capture
        with capture("step.fields"):
            closed = self._recorder.close_fields()
            if closed is not None:
                _, _, pending.ts, fields = closed
                fields.update(pending.fields)
                pending.fields = fields
        if opt_events is not None:
            if pending.timing is not None:
                pending.timing.optimizer_start, pending.timing.optimizer_end = opt_events
            else:
                self._events.release(*opt_events)
        resources = self._resources
        if (
            resources is not None
            and resources.active
            and pending.step % self._config.system_every_steps == 0
            and resources.due(pending.epoch)
        ):
            with capture("resources"):
                resources.read(pending.fields)
        with capture("step.queue"):
            self._queue.push(pending)

    def _arm_health_if_due(self, step: int) -> None:
        health = self._layer_health
        if health is None or health.armed:
            return
        if step % self._config.layer_health_every == 0 and torch.is_grad_enabled():
            health.arm(step, self._epoch)
            self._set_fast_until(0)

    # ----- optimizer hooks -----

    def _optimizer_before(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.enabled:
            return
        capture = self._containment.capture
        if self._profiler is not None and self._profiler.active:
            with capture("profiler.phase"):
                self._profile_phase = self._profiler.phase("optimizer")
                self._profile_phase.__enter__()
        if self._cuda_timing:
            with capture("timing"):
                self._opt_events = (self._events.record(), None)
        if self._noise is not None:
            step = self._next_step - 1
            config = self._config
            if in_window(step, config.gradient_noise_every, config.gradient_noise_window):
                with capture("gradient_noise"):
                    self._noise_follow(optimizer)
                    self._observe_noise(step)
            else:
                self._recorder.take_noise_samples()  # what _observe_noise does outside its windows
        health = self._layer_health
        if health is not None and health.armed and not health.collected:
            with capture("layer_health.collect"):
                health.collect()

    def _optimizer_after(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.enabled:
            return
        capture = self._containment.capture
        if self._profile_phase is not None:
            self._phase_exit()
        if self._opt_events is not None and self._opt_events[1] is None:
            with capture("timing"):
                self._opt_events = (self._opt_events[0], self._events.record())
        health = self._layer_health
        if health is not None and health.armed and health.collected:
            with capture("layer_health"):
                try:
                    self._complete_health(health)
                finally:
                    if health.armed:
                        health.close()
            with capture("step.plan"):
                self._plan_fast_steps()  # the sample is done: the next step can be fast

    def _learning_rate_of(self, optimizer: torch.optim.Optimizer) -> float | None:
        return learning_rate(optimizer)

    # ----- epochs -----

    def end_epoch(self, **metrics: Any) -> None:
        """Records the epoch's metrics: ``train_x`` and ``val_x`` go to the record's train and
        val objects as ``x``, unprefixed names to train. ``train.loss`` defaults to the mean
        step loss of the epoch."""
        if not self.enabled:
            return
        with self._containment.capture("end_epoch"):
            energy = self._energy_epoch()
            self._close_open_step()
            self._queue.drain()
            train: dict[str, Any] = {}
            val: dict[str, Any] = {}
            for name, value in metrics.items():
                if value is None:
                    continue
                number = _to_float(value)
                if name.startswith("val_"):
                    val[name[4:]] = telemetry_number(number)
                elif name.startswith("train_"):
                    train[name[6:]] = telemetry_number(number)
                else:
                    train[name] = telemetry_number(number)
            total, count = self._recorder.take_epoch_loss(self._epoch)
            if "loss" not in train and count:
                train["loss"] = telemetry_number(total / count)
            now = time.perf_counter()
            record: dict[str, Any] = {
                "epoch": self._epoch,
                "ts": time.time(),
                "duration_s": max(0.0, now - self._epoch_started),
            }
            if train:
                record["train"] = train
            if val:
                record["val"] = val
            if energy:
                record["energy"] = energy
            self._emit_json("epoch", dumps(record))
        self._epoch += 1
        if self._control is not None:
            with self._containment.capture("control.epoch_end"):
                self._control.at_epoch_end(self._epoch - 1, self._next_step)
        self._epoch_started = time.perf_counter()

    def _energy_epoch(self) -> list[dict[str, Any]]:
        """The ending epoch's energy entries (read before its last step is closed, so that
        step's window ends at the epoch's end)."""
        if self._energy is None:
            return []
        with self._containment.capture("energy.epoch"):
            entries, total_joules = self._energy.end_epoch()
            if total_joules is not None:
                self._recorder.energy_epoch_end(total_joules)
            return entries
        return []

    def epochs(self, n: int) -> Iterator[int]:
        """Yields epoch numbers from the current one up to n - 1, ending each epoch that the
        loop did not end itself; stops early when should_stop."""
        while self._epoch < n:
            if self.should_stop:
                return
            current = self._epoch
            yield current
            if self._epoch == current:
                self.end_epoch()

    # ----- events and the end of the run -----

    def log_event(self, message: str, level: str = "info", type: str = "log", **data: Any) -> None:
        """Records an event (a note, a checkpoint, ...) shown on the run's timeline."""
        if not self.enabled:
            return
        with self._containment.capture("log_event"):
            record = {
                "ts": time.time(),
                "level": level,
                "type": type,
                "message": message,
                "data": to_jsonable(data),
            }
            self._emit_json("event", dumps(record))

    def finish(self, status: str = "completed", reason: str = "") -> dict[str, Any]:
        """Ends the run: sends what is left (waiting at most ``config.finish_timeout_s``; what
        could not be sent stays in the spool) and returns the Observer's accounting."""
        if self._finished or not self._active or os.getpid() != self._pid:
            return self.stats()
        if status == "completed" and self.should_stop and self._control is not None:
            status, reason = "stopped", reason or self._control.stop_reason
        with self._containment.capture("finish.status"):
            if status not in _FINISH_STATUSES:
                bad, status = status, "completed"
                raise ValueError(f"finish status must be one of {_FINISH_STATUSES}, got {bad!r}")
        with self._containment.capture("finish"):
            self._finish(status, reason)
        self._finished = True
        lifecycle.unregister(self)
        return self.stats()

    def _finish(self, status: str, reason: str) -> None:
        self._set_fast_until(0)
        with self._containment.capture("finish.steps"):
            self._close_open_step()
            self._queue.drain()
            self._contain_libatlas_errors()
        if self._energy is not None:
            with self._containment.capture("energy.stop"):
                self._energy.stop()
        with self._containment.capture("finish.hooks"):
            if self._profiler is not None:
                self._profiler.close()
            if not self._architecture_done and self._rows:
                self._complete_architecture()
            self._close_model()
            if self._optimizers is not None:
                self._optimizers.close()
        if self._containment.counts:
            with self._containment.capture("finish.error_summary"):
                self._emit_json(
                    "event",
                    dumps(
                        {
                            "ts": time.time(),
                            "level": "warning",
                            "type": "telemetry_errors",
                            "message": "telemetry errors were contained during the run",
                            "data": {"counts": dict(self._containment.counts)},
                        }
                    ),
                )
        from ._atlas import AtlasError

        if len(reason) > _MAX_REASON_CHARS:  # protocol v1 allows 64 KiB; keep the end
            reason = "...\n" + reason[-_MAX_REASON_CHARS:]
        try:
            self._client.finish(status, reason, self._config.finish_timeout_s)
        except AtlasError as error:
            # Not a fault of ours: the server was slow or unreachable. What was not sent is in
            # the spool, and the next process for this run (or atlas sync) delivers it.
            logger.warning(
                "atlas_observatory: finishing run %s: %s (unsent records stay in %s)",
                self._run_id,
                error,
                self._client.spool_path,
            )

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Completes every step so far (reading device values, which synchronises) and waits
        until libatlas has sent or spooled every record. False when `timeout_s` passed first
        or libatlas reports a lasting failure (see stats()); the records stay queued."""
        if not self.enabled:
            return False
        with self._containment.capture("flush"):
            self._close_open_step()
            self._queue.drain()
            from .errors import AtlasError

            try:
                self._client.flush(timeout_s)
            except AtlasError:
                return False
            return True
        return False

    def stats(self) -> dict[str, Any]:
        """libatlas's counts (sent, spooled, dropped by reason), health and contained errors."""
        out: dict[str, Any] = {
            "run_id": self._run_id,
            "enabled": self._active,
            "telemetry_errors": dict(self._containment.counts),
        }
        if self._client is not None:
            try:
                self._flush_losses()  # counted as enqueued, as a step's record is once it ends
                out["client"] = self._client.stats()
                out["health"] = self._client.health()
                out["spool_path"] = self._client.spool_path
            except Exception as error:  # stats must answer even when the client is broken
                out["client_error"] = repr(error)
        return out

    def _close_from_lifecycle(self, status: str, reason: str) -> None:
        if os.getpid() != self._pid:
            return
        self.finish(status, reason)

    def __enter__(self) -> Observer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is not None and issubclass(exc_type, TrainingStopped):
            stopped = exc if isinstance(exc, TrainingStopped) else None
            self.finish("stopped", stopped.reason if stopped is not None else "")
            return True  # a requested stop ends the script's loop normally
        if exc_type is None:
            self.finish("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("stopped", "KeyboardInterrupt")
        else:
            self.finish("failed", "".join(traceback.format_exception(exc_type, exc, tb)))
        return False

    # ----- records -----

    def _complete_architecture(self) -> None:
        self._architecture_done = True
        if self._first_forward is not None:
            self._first_forward.remove()
            self._first_forward.assign_flops()
        self._emit_json("architecture", dumps(architecture_record(self._rows)))

    def _control_step(self) -> None:
        """Applies control actions at a step boundary. TrainingStopped leaves on purpose."""
        control = self._control
        if control is None:
            return
        stopped: TrainingStopped | None = None
        with self._containment.capture("control.step"):
            try:
                if control.at_step(self._next_step):
                    self._recorder.mark_idle()  # a pause is not data-loading time
            except TrainingStopped as error:
                stopped = error
        if stopped is not None:
            raise stopped

    def _control_event(self, message: str, level: str, data: dict[str, Any]) -> None:
        record = {"ts": time.time(), "level": level, "type": "control", "message": message}
        record["data"] = to_jsonable(data)
        self._emit_json("event", dumps(record))

    def _emit_json(self, kind: str, text: str) -> None:
        if self._client is not None:
            self._flush_losses()
            self._client.record_json(kind, text)

    def _flush_losses(self) -> None:
        """Sends the fast steps' records that wait for their loss (read a few steps at a time,
        step_binding.cpp), so that they go before whatever the Observer sends next."""
        if self._recorder is not None:
            self._recorder.flush_losses()

    def _emit_step(self, pending: PendingStep) -> None:
        self._flush_losses()
        loss = pending.fields.get("loss")
        if loss is not None and pending.epoch is not None:
            self._recorder.add_epoch_loss(pending.epoch, loss)
        with self._containment.capture("record.step"):
            self._client.record(
                pending.step,
                pending.fields,
                pending.metrics or None,
                epoch=pending.epoch,
                ts=pending.ts,
            )

    def _report_error(self, site: str, error: BaseException, count: int) -> None:
        if self._client is None:
            return
        record = {
            "ts": time.time(),
            "level": "error",
            "type": "telemetry_error",
            "message": f"{site}: {type(error).__name__}: {error}"[:4000],
            "data": {
                "site": site,
                "error_type": type(error).__name__,
                "count": count,
                "traceback": format_error(error),
            },
        }
        self._emit_json("event", dumps(record))


def _call_model(model: nn.Module, x: Any, y: Any, passing: bool | None, name: str | None) -> Any:
    """The forward call of step(): the targets by keyword when the forward has a parameter for
    them (unless pass_targets is False), positionally when pass_targets is True, else not."""
    if name is not None and passing is not False:
        return model(x, **{name: y})
    return model(x, y) if passing else model(x)


def _backward(loss: torch.Tensor) -> None:
    tensor: Any = loss  # Tensor.backward is untyped in torch's stubs
    tensor.backward()


def _host_value(name: str, value: Any) -> float | None:
    """`value` as a number if reading it costs nothing (a number, a CPU tensor); None for a
    one-element tensor on an accelerator, which the deferred path reads without a sync."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a number or a one-element tensor")
        return float(value.item()) if value.is_cpu else None
    return float(value)


def _to_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean().item())
    return float(value)
