"""Step records whose values still live on the device: read without stalling the training loop.

A step's loss (and any tensor metric) is a tensor. Reading it with ``.item()`` on CUDA waits for
every kernel queued so far: a hidden synchronisation per step that can cost a large share of
the step on a fast GPU. So a ``PendingStep`` keeps its tensors (detached) and is emitted later:

- CPU tensors are read at once: they are already computed, so ``.item()`` costs nothing.
- CUDA tensors wait until ``batch_steps`` steps have gathered. Then one ``torch.stack`` and one
  non-blocking copy into pinned host memory are queued, followed by a CUDA event. Later steps
  poll the event (``Event.query()``, which never waits); once it has completed, the values are
  read from host memory and the steps are emitted, in order. No synchronisation happens on the
  default path; ``drain()`` (at epoch ends and at finish) waits for what is left.
- Tensors on other devices (MPS, XPU) are stacked and copied with one blocking ``.cpu()`` per
  batch: one synchronisation per ``batch_steps`` steps.

CUDA timing events of a step (forward and backward) are read when its batch's event has
completed, since they were recorded before it on the same stream.

Owned by the Observer and used on the training thread only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["CudaTiming", "EventPool", "PendingStep", "StepQueue"]


class EventPool:
    """Reused CUDA timing events: creating one per phase per step would cost more than it must."""

    def __init__(self) -> None:
        self._free: list[Any] = []

    def record(self) -> Any:
        """An event recorded now on the current stream."""
        event = self._free.pop() if self._free else _new_event(enable_timing=True)
        event.record()
        return event

    def release(self, *events: Any) -> None:
        self._free.extend(e for e in events if e is not None)


@dataclass
class CudaTiming:
    """Events recorded around a step's phases on the current CUDA stream."""

    pool: EventPool
    start: Any = None
    forward_end: Any = None
    backward_end: Any = None
    optimizer_start: Any = None
    optimizer_end: Any = None

    def apply(self, fields: dict[str, float]) -> None:
        """Writes the phase durations (the events have completed) and returns the events."""
        if self.start is not None and self.forward_end is not None:
            fields["forward_ms"] = float(self.start.elapsed_time(self.forward_end))
        if self.forward_end is not None and self.backward_end is not None:
            fields["backward_ms"] = float(self.forward_end.elapsed_time(self.backward_end))
        if self.optimizer_start is not None and self.optimizer_end is not None:
            fields["optimizer_ms"] = float(self.optimizer_start.elapsed_time(self.optimizer_end))
        self.pool.release(
            self.start,
            self.forward_end,
            self.backward_end,
            self.optimizer_start,
            self.optimizer_end,
        )
        self.start = self.forward_end = self.backward_end = None
        self.optimizer_start = self.optimizer_end = None


@dataclass
class PendingStep:
    """A step record, some of whose values may still be tensors."""

    step: int
    epoch: int | None
    ts: float
    fields: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # (is_field, name, tensor): values to read before the record can go.
    tensors: list[tuple[bool, str, torch.Tensor]] = field(default_factory=list)
    timing: CudaTiming | None = None

    def set_value(self, is_field: bool, name: str, value: Any) -> None:
        """Sets a number now, or keeps a tensor to read later (detached: no graph is kept)."""
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"{name} must be a number or a one-element tensor")
            self.tensors.append((is_field, name, value.detach().reshape(())))
        else:
            (self.fields if is_field else self.metrics)[name] = float(value)


@dataclass
class _Batch:
    steps: list[PendingStep]
    host: torch.Tensor
    event: Any  # torch.cuda.Event


class StepQueue:
    """Emits PendingSteps in order once their values are on the host (see the module docstring)."""

    # A GPU this many batches behind is waited for, so the queue stays bounded.
    MAX_IN_FLIGHT = 64

    def __init__(self, emit: Callable[[PendingStep], None], batch_steps: int) -> None:
        self._emit = emit
        self._batch_steps = max(1, batch_steps)
        self._waiting: list[PendingStep] = []  # device values not yet copied
        self._in_flight: deque[_Batch] = deque()
        self._blocked: deque[PendingStep] = deque()  # ready steps behind unfinished ones

    def __len__(self) -> int:
        return len(self._waiting) + sum(len(b.steps) for b in self._in_flight)

    @property
    def idle(self) -> bool:
        """Nothing queued: a step whose values are all known may be sent past the queue."""
        return not (self._waiting or self._in_flight or self._blocked)

    def push(self, pending: PendingStep) -> None:
        device = _device_of(pending)
        if device is None or device.type == "cpu":
            _read_now(pending)
            if pending.timing is not None:  # events without a device value to wait for
                pending.timing.pool.release(pending.timing.start, pending.timing.forward_end)
                pending.timing = None
            if self._waiting or self._in_flight:
                self._blocked.append(pending)
            else:
                self._emit(pending)
            return
        if self._blocked:  # order: nothing overtakes a step that waits for the device
            self._waiting.extend(self._blocked)
            self._blocked.clear()
        self._waiting.append(pending)
        if sum(len(p.tensors) > 0 for p in self._waiting) >= self._batch_steps:
            self._launch(block=device.type != "cuda")
        self.poll()

    def poll(self) -> None:
        """Emits every batch whose copy has completed; never waits."""
        while self._in_flight and self._in_flight[0].event.query():
            self._complete(self._in_flight.popleft())
        while len(self._in_flight) > self.MAX_IN_FLIGHT:
            batch = self._in_flight.popleft()
            batch.event.synchronize()
            self._complete(batch)
        self._release_blocked()

    def drain(self) -> None:
        """Waits for every value and emits every step (epoch ends, finish)."""
        if self._waiting:
            self._launch(block=True)
        while self._in_flight:
            batch = self._in_flight.popleft()
            batch.event.synchronize()
            self._complete(batch)
        self._release_blocked()

    def _release_blocked(self) -> None:
        if self._in_flight or self._waiting:
            return
        while self._blocked:
            self._emit(self._blocked.popleft())

    def _launch(self, block: bool) -> None:
        steps, self._waiting = self._waiting, []
        values = [t for p in steps for (_, _, t) in p.tensors]
        if not values:
            for pending in steps:
                self._emit(pending)
            return
        stacked = torch.stack([v.to(values[0].device, torch.float64) for v in values])
        if block or stacked.device.type != "cuda":
            self._finish(steps, stacked.cpu())
            return
        host = torch.empty(stacked.shape, dtype=torch.float64, pin_memory=True)
        host.copy_(stacked, non_blocking=True)
        event = _new_event(enable_timing=False)
        event.record()
        self._in_flight.append(_Batch(steps, host, event))

    def _complete(self, batch: _Batch) -> None:
        self._finish(batch.steps, batch.host)

    def _finish(self, steps: list[PendingStep], host: torch.Tensor) -> None:
        _assign(steps, host.tolist())
        for pending in steps:
            if pending.timing is not None:
                pending.timing.apply(pending.fields)
                pending.timing = None
            self._emit(pending)


def _new_event(enable_timing: bool) -> Any:
    cuda: Any = torch.cuda  # torch.cuda.Event is untyped
    return cuda.Event(enable_timing=enable_timing)


def _device_of(pending: PendingStep) -> torch.device | None:
    for _, _, tensor in pending.tensors:
        return tensor.device
    return None


def _read_now(pending: PendingStep) -> None:
    for is_field, name, tensor in pending.tensors:
        (pending.fields if is_field else pending.metrics)[name] = float(tensor.item())
    pending.tensors = []


def _assign(steps: list[PendingStep], values: list[float]) -> None:
    index = 0
    for pending in steps:
        for is_field, name, _ in pending.tensors:
            (pending.fields if is_field else pending.metrics)[name] = values[index]
            index += 1
        pending.tensors = []
