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
    """Calls `before(optimizer)` and `after(optimizer)` around steps of the model's optimizers."""

    def __init__(
        self,
        parameter_ids: set[int],
        containment: Containment,
        before: Callable[[torch.optim.Optimizer], None],
        after: Callable[[torch.optim.Optimizer], None],
    ) -> None:
        self._parameter_ids = parameter_ids
        self._containment = containment
        self._before = before
        self._after = after
        self._mine: weakref.WeakKeyDictionary[torch.optim.Optimizer, bool] = (
            weakref.WeakKeyDictionary()
        )
        self.seen = False  # an optimizer of the model has stepped at least once
        # The last optimizer asked about and the answer: loops step one optimizer, and a
        # WeakKeyDictionary lookup makes a weak reference each time.
        self._last: weakref.ref[torch.optim.Optimizer] | None = None
        self._last_mine = False
        self._handles: list[RemovableHandle] = [
            register_optimizer_step_pre_hook(self._pre),
            register_optimizer_step_post_hook(self._post),
        ]

    def set_parameters(self, parameter_ids: set[int]) -> None:
        self._parameter_ids = parameter_ids
        self._mine = weakref.WeakKeyDictionary()
        self._last = None

    def _is_mine(self, optimizer: torch.optim.Optimizer) -> bool:
        last = self._last
        if last is not None and last() is optimizer:
            return self._last_mine
        known = self._mine.get(optimizer)
        if known is None:
            known = any(
                id(p) in self._parameter_ids
                for group in optimizer.param_groups
                for p in group.get("params", ())
            )
            self._mine[optimizer] = known
        self._last = weakref.ref(optimizer)
        self._last_mine = known
        return known

    def _pre(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        with self._containment.capture("optimizer.pre_step"):
            if self._is_mine(optimizer):
                self._before(optimizer)

    def _post(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        with self._containment.capture("optimizer.post_step"):
            if self._is_mine(optimizer):
                self.seen = True
                self._after(optimizer)

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
