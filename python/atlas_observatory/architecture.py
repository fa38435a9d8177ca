"""The architecture record: the module tree, shapes from the first forward, FLOPs per module.

``module_table`` walks ``named_modules()`` (registration order; a shared module appears once,
under its first name) and counts the parameters each module owns directly; a parameter shared
by two modules (tied weights) is counted once, for the first. ``FirstForward`` then watches one
forward pass: forward hooks record each module's input and output shapes and remove themselves
after their first call (no backward hooks, so in-place activations are safe), and
torch.utils.flop_counter.FlopCounterMode counts the FLOPs of the operators each module ran. The
formulas of ``flops.py`` add what FlopCounterMode does not count (normalisation, activations,
pooling), or everything when it cannot run. FLOPs are per sample: divided by the root input's
first dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .containment import Containment
from .flops import COUNTED_BY_FLOP_COUNTER, formula_flops
from .modelinfo import first_tensor

__all__ = ["FirstForward", "ModuleRow", "architecture_record", "module_table"]


@dataclass
class ModuleRow:
    """One module of the architecture record (protocol v1, kind "architecture")."""

    name: str
    module: nn.Module
    parent: str | None
    params: int
    trainable_params: int
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shape: list[int] | None = None
    calls: int = 0
    flops: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": type(self.module).__name__,
            "parent": self.parent,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "input_shape": self.input_shapes[0] if self.input_shapes else None,
            "output_shape": self.output_shape,
            "flops": self.flops,
        }


def module_table(root: nn.Module) -> list[ModuleRow]:
    """Every module of `root`, in registration order (see the module docstring)."""
    rows: list[ModuleRow] = []
    seen_params: set[int] = set()
    for name, module in root.named_modules():
        params = trainable = 0
        for param in module.parameters(recurse=False):
            if id(param) in seen_params:
                continue
            seen_params.add(id(param))
            params += param.numel()
            trainable += param.numel() if param.requires_grad else 0
        parent = None if name == "" else name.rpartition(".")[0]
        rows.append(ModuleRow(name, module, parent, params, trainable))
    return rows


def architecture_record(rows: list[ModuleRow]) -> dict[str, Any]:
    return {"modules": [row.to_json() for row in rows]}


def _shape(value: Any) -> list[int] | None:
    tensor = first_tensor(value)
    return list(tensor.shape) if tensor is not None else None


class FirstForward:
    """Watches the model's first forward pass (see the module docstring).

    ``install()`` puts a shape hook on every module; the hooks come off by themselves once the
    root module's forward has returned (so ``calls`` counts the calls of one forward, shared
    modules included). ``start_counting()``/``stop_counting()`` run FlopCounterMode around a
    forward when the caller owns one (observer.step). ``assign_flops()`` fills the rows' FLOPs.
    Every hook body runs under the Observer's containment.
    """

    def __init__(self, rows: list[ModuleRow], containment: Containment) -> None:
        self._rows = rows
        self._containment = containment
        self._handles: list[RemovableHandle] = []
        self._counter: Any = None
        self._counts: dict[str, float] = {}
        self.flop_counter_used = False
        self.seen_forward = False
        self.batch: int | None = None

    def install(self) -> None:
        for row in self._rows:
            self._handles.append(
                row.module.register_forward_hook(self._hook(row), with_kwargs=True)
            )

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def start_counting(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        counter: Any = FlopCounterMode(display=False)
        counter.__enter__()
        self._counter = counter

    def stop_counting(self) -> None:
        counter, self._counter = self._counter, None
        if counter is None:
            return
        counter.__exit__(None, None, None)
        with self._containment.capture("architecture.flop_counter"):
            self._counts = self._counter_totals(counter)
            self.flop_counter_used = True

    def _hook(self, row: ModuleRow) -> Any:
        def hook(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            with self._containment.capture("architecture.shapes"):
                if self.seen_forward:
                    return
                row.calls += 1
                if row.calls == 1:
                    shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
                    if not shapes:
                        found = _shape(args) or _shape(kwargs)
                        shapes = [found] if found else []
                    row.input_shapes = shapes
                    row.output_shape = _shape(output)
                if row is self._rows[0]:  # the root's forward has returned: one pass seen
                    self.seen_forward = True
                    self.remove()

        return hook

    def _counter_totals(self, counter: Any) -> dict[str, float]:
        """FlopCounterMode's totals keyed by our module names ("" for the root)."""
        root_type = type(self._rows[0].module).__name__
        totals: dict[str, float] = {}
        for key, by_op in counter.get_flop_counts().items():
            if key == "Global":
                continue
            if key == root_type:
                name = ""
            elif key.startswith(root_type + "."):
                name = key[len(root_type) + 1 :]
            else:
                continue
            totals[name] = float(sum(by_op.values()))
        return totals

    def assign_flops(self) -> None:
        """Fills each row's forward FLOPs per sample (None for modules that did not run)."""
        rows = self._rows
        root_shapes = rows[0].input_shapes
        self.batch = root_shapes[0][0] if root_shapes and root_shapes[0] else None
        if not self.batch:
            return
        # What each module adds on top of the counter: formula FLOPs for the types the counter
        # does not count, or for every leaf when the counter did not run.
        added: dict[str, float] = {}
        for row in rows:
            if not row.output_shape:
                continue
            counted = self.flop_counter_used and isinstance(row.module, COUNTED_BY_FLOP_COUNTER)
            is_leaf = next(iter(row.module.children()), None) is None
            if counted or not (is_leaf or isinstance(row.module, nn.MultiheadAttention)):
                continue
            flops = formula_flops(row.module, row.input_shapes, row.output_shape) * row.calls
            if flops:
                added[row.name] = flops
        subtree: dict[str, float] = {}
        for name, flops in added.items():
            while True:  # the module itself and each of its ancestors, up to the root ""
                subtree[name] = subtree.get(name, 0.0) + flops
                if not name:
                    break
                name = name.rpartition(".")[0]
        for row in rows:
            if row.calls == 0 and row.name not in self._counts:
                continue
            total = self._counts.get(row.name, 0.0) + subtree.get(row.name, 0.0)
            row.flops = total / self.batch
