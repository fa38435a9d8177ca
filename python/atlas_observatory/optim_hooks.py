"""Seeing the user's optimizer steps without being handed the optimizer.

torch's global optimizer hooks (``register_optimizer_step_pre_hook`` and ``..._post_hook``) fire
around every ``Optimizer.step()`` in the process. An ``OptimizerWatch`` keeps those of the
optimizers that update the observed model (any of its parameters in any parameter group; decided
once per optimizer) and hands them to the Observer: the time of the step, the learning rate of
the first parameter group, and the moments right before and after an update that layer health
needs. A GradScaler that skips a step (inf/NaN gradients) skips the optimizer's step and so these
hooks. Hooks are removed by ``close()``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from torch.utils.hooks import RemovableHandle

from .containment import Containment

__all__ = ["OptimizerWatch", "learning_rate"]


def learning_rate(optimizer: torch.optim.Optimizer) -> float | None:
    """The first parameter group's learning rate, unless reading it would synchronise a device."""
    groups = optimizer.param_groups
    if not groups:
        return None
    lr = groups[0].get("lr")
    if isinstance(lr, torch.Tensor):
        return float(lr.item()) if lr.device.type == "cpu" and lr.numel() == 1 else None
    return float(lr) if isinstance(lr, int | float) else None


class OptimizerWatch:
    """Calls `before(optimizer)` and `after(optimizer)` around steps of the model's optimizers.

    The hooks registered with torch are libatlas's (the StepRecorder's optimizer_pre_hook and
    optimizer_post_hook): they time every optimizer step and read its learning rate without a
    Python frame, and call back here (``_before``, ``_after``, ``_learning_rate``) for the
    steps the Observer needs to see (see step_binding.cpp), and ``_is_mine`` once per
    optimizer."""

    def __init__(
        self,
        parameter_ids: set[int],
        containment: Containment,
        before: Callable[[torch.optim.Optimizer], None],
        after: Callable[[torch.optim.Optimizer], None],
        read_learning_rate: Callable[[torch.optim.Optimizer], float | None],
        recorder: Any,
    ) -> None:
        self._parameter_ids = parameter_ids
        self._containment = containment
        self._before = before
        self._after = after
        self._read_learning_rate = read_learning_rate
        self._recorder = recorder
        self._mine: weakref.WeakKeyDictionary[torch.optim.Optimizer, bool] = (
            weakref.WeakKeyDictionary()
        )
        self._connect()
        self._handles: list[RemovableHandle] = [
            register_optimizer_step_pre_hook(recorder.optimizer_pre_hook),
            register_optimizer_step_post_hook(recorder.optimizer_post_hook),
        ]

    @property
    def seen(self) -> bool:
        """Whether an optimizer of the model has stepped at least once."""
        return bool(self._recorder.optimizer_seen)

    def set_parameters(self, parameter_ids: set[int]) -> None:
        self._parameter_ids = parameter_ids
        self._mine = weakref.WeakKeyDictionary()
        self._connect()  # forgets the recorder's cached answer too

    def _connect(self) -> None:
        self._recorder.set_optimizer_callbacks(
            self._is_mine, self._pre, self._post, self._learning_rate
        )

    def _is_mine(self, optimizer: torch.optim.Optimizer) -> bool:
        with self._containment.capture("optimizer.is_mine"):
            known = self._mine.get(optimizer)
            if known is None:
                known = any(
                    id(p) in self._parameter_ids
                    for group in optimizer.param_groups
                    for p in group.get("params", ())
                )
                self._mine[optimizer] = known
            return known
        return False

    def _pre(self, optimizer: torch.optim.Optimizer) -> None:
        with self._containment.capture("optimizer.pre_step"):
            self._before(optimizer)

    def _post(self, optimizer: torch.optim.Optimizer) -> None:
        with self._containment.capture("optimizer.post_step"):
            self._after(optimizer)

    def _learning_rate(self, optimizer: torch.optim.Optimizer) -> float | None:
        with self._containment.capture("optimizer.lr"):
            return self._read_learning_rate(optimizer)
        return None

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._recorder.set_optimizer_callbacks(None, None, None, None)
