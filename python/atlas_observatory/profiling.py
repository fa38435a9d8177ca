"""Profiler windows: short, scheduled torch.profiler samples, summarised as "profile" records.

With ``track_profiler``, a window opens at step ``profiler_first_step`` and then every
``profiler_every`` steps. Each window is one ``torch.profiler.profile`` run with the schedule
``schedule(wait=0, warmup=profiler_warmup, active=profiler_window, repeat=1)``: it records nothing
between windows, so steps outside a window pay only a counter check. While a window is active,
the Observer labels its phases with ``record_function`` ranges (``atlas.forward``,
``atlas.backward``, ``atlas.optimizer``), and forward hooks on the model's top-level children
label each child (``atlas.module:<name>``), so time per module comes from the same trace.

The record's ``data`` (an opaque object in protocol v1):

    {"window_steps": 3, "first_step": 11, "last_step": 13, "summary_ms": 35.2,
     "activities": ["cpu", "cuda"],
     "top_ops": [{"name": "aten::addmm", "calls": 30, "self_cpu_ms": 8.1, "cpu_ms": 9.0,
                  "self_device_ms": 0.0, "device_ms": 0.0}],
     "modules": [{"name": "features", "calls": 3, "cpu_ms": 12.0, "device_ms": 0.0}],
     "phases": {"forward": {"cpu_ms": .., "device_ms": .., "calls": 3}, "backward": ..,
                "optimizer": ..}}

Times are totals over the window's active steps, in milliseconds; ``top_ops`` holds the
``profiler_top_ops`` operators with the most self time (device time first when a device was
profiled); ``summary_ms`` is what summarising the window cost (a few milliseconds). Starting
the first window costs about a second: the profiler's own start-up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.autograd.profiler import record_function
from torch.utils.hooks import RemovableHandle

from .config import ObserverConfig
from .containment import Containment
from .jsonsafe import dumps

__all__ = ["ProfilerWindows"]

_MODULE_PREFIX = "atlas.module:"
_PHASE_PREFIX = "atlas."
_PHASES = ("forward", "backward", "optimizer")


class ProfilerWindows:
    """Opens and closes profiler windows by step, and emits their summaries."""

    def __init__(
        self,
        config: ObserverConfig,
        containment: Containment,
        emit: Callable[[str, str], None],
    ) -> None:
        self._config = config
        self._containment = containment
        self._emit = emit
        self._root: nn.Module | None = None
        self._profile: Any = None
        self._steps_left = 0
        self._first_step = 0
        self._last_step = 0
        self._started = 0.0
        self._handles: list[RemovableHandle] = []
        self._ranges: list[Any] = []

    @property
    def active(self) -> bool:
        return self._profile is not None

    def set_model(self, root: nn.Module) -> None:
        self._root = root

    def due(self, step: int) -> bool:
        """Whether a window starts at `step`."""
        first = self._config.profiler_first_step
        return step >= first and (step - first) % self._config.profiler_every == 0

    def next_due(self, step: int) -> int:
        """The first step from `step` on at which a window starts."""
        first = self._config.profiler_first_step
        if step <= first:
            return first
        every = self._config.profiler_every
        return first + -(-(step - first) // every) * every

    def on_step_start(self, step: int) -> None:
        """Called before each step: opens a window when one is due."""
        if self._profile is None and self.due(step):
            self._open(step)

    def on_step_end(self, step: int) -> None:
        """Called after each step: advances the window's schedule, closes it when done."""
        if self._profile is None:
            return
        self._last_step = step
        self._profile.step()
        self._steps_left -= 1
        if self._steps_left <= 0:
            self._close()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Labels a phase of the step in the trace while a window is open."""
        if self._profile is None:
            yield
            return
        with record_function(_PHASE_PREFIX + name):
            yield

    def close(self) -> None:
        """Ends a window in progress (finish); its partial summary is still emitted."""
        if self._profile is not None:
            self._close()

    # ----- windows -----

    def _activities(self) -> list[Any]:
        from torch.profiler import ProfilerActivity

        activities = [ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(ProfilerActivity.CUDA)
        return activities

    def _open(self, step: int) -> None:
        from torch.profiler import profile, schedule

        warmup, active = self._config.profiler_warmup, self._config.profiler_window
        prof = profile(
            activities=self._activities(),
            schedule=schedule(wait=0, warmup=warmup, active=active, repeat=1),
            record_shapes=False,
            with_stack=False,
            profile_memory=False,
        )
        prof.start()
        self._profile = prof
        self._steps_left = warmup + active
        self._first_step = step + warmup
        self._started = 0.0
        self._install_module_labels()

    def _install_module_labels(self) -> None:
        if self._root is None:
            return
        for name, child in self._root.named_children():
            label = _MODULE_PREFIX + name
            self._handles.append(child.register_forward_pre_hook(self._enter(label)))
            self._handles.append(child.register_forward_hook(self._exit()))

    def _enter(self, label: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            with self._containment.capture("profiler.module_label"):
                context: Any = record_function(label)
                context.__enter__()
                self._ranges.append(context)

        return hook

    def _exit(self) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            with self._containment.capture("profiler.module_label"):
                if self._ranges:
                    self._ranges.pop().__exit__(None, None, None)

        return hook

    def _close(self) -> None:
        prof, self._profile = self._profile, None
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        while self._ranges:
            self._ranges.pop().__exit__(None, None, None)
        started = time.perf_counter()
        prof.stop()
        with self._containment.capture("profiler.summary"):
            data = self._summary(prof)
            data["summary_ms"] = (time.perf_counter() - started) * 1000.0
            record = {"step": self._last_step, "ts": time.time(), "data": data}
            self._emit("profile", dumps(record))

    def _summary(self, prof: Any) -> dict[str, Any]:
        events = prof.key_averages()
        ops: list[dict[str, Any]] = []
        modules: list[dict[str, Any]] = []
        phases: dict[str, Any] = {}
        with_device = torch.cuda.is_available()
        for event in events:
            key = str(event.key)
            row = {
                "calls": int(event.count),
                "self_cpu_ms": float(event.self_cpu_time_total) / 1000.0,
                "cpu_ms": float(event.cpu_time_total) / 1000.0,
                "self_device_ms": float(getattr(event, "self_device_time_total", 0.0)) / 1000.0,
                "device_ms": float(getattr(event, "device_time_total", 0.0)) / 1000.0,
            }
            if key.startswith(_MODULE_PREFIX):
                modules.append(
                    {
                        "name": key[len(_MODULE_PREFIX) :],
                        "calls": row["calls"],
                        "cpu_ms": row["cpu_ms"],
                        "device_ms": row["device_ms"],
                    }
                )
            elif key.startswith(_PHASE_PREFIX) and key[len(_PHASE_PREFIX) :] in _PHASES:
                phases[key[len(_PHASE_PREFIX) :]] = {
                    "calls": row["calls"],
                    "cpu_ms": row["cpu_ms"],
                    "device_ms": row["device_ms"],
                }
            elif not key.startswith("ProfilerStep"):
                ops.append({"name": key, **row})
        sort_key = "self_device_ms" if with_device else "self_cpu_ms"
        ops.sort(key=lambda op: (float(op[sort_key]), float(op["self_cpu_ms"])), reverse=True)
        modules.sort(key=lambda m: float(m["cpu_ms"]), reverse=True)
        steps = self._config.profiler_window
        return {
            "window_steps": steps,
            "first_step": self._first_step,
            "last_step": self._last_step,
            "activities": ["cpu", "cuda"] if with_device else ["cpu"],
            "top_ops": ops[: self._config.profiler_top_ops],
            "modules": modules,
            "phases": phases,
        }
