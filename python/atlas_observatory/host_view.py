"""How CPU tensors are handed to the C++ kernels of ``_atlas`` (layer health, the gradient
noise scale).

torch's ``Tensor.__dlpack__`` is Python code that costs several microseconds per tensor, and a
layer-health sample hands over ~80 tensors; a numpy view of the same memory (``Tensor.numpy()``,
no copy) is read by the binding through the buffer protocol in well under one. numpy is optional
for torch: without it the kernels take the tensors themselves (DLPack), with the same results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["host_view", "host_views"]


def _numpy_view(t: torch.Tensor) -> Any:
    return t.numpy()


def _same(t: torch.Tensor) -> Any:
    return t


def _pick_host_view() -> Callable[[torch.Tensor], Any]:
    try:
        torch.zeros(1).numpy()
    except (ImportError, RuntimeError):
        return _same
    return _numpy_view


# The argument the kernels get for a detached, contiguous CPU tensor.
host_view = _pick_host_view()


def host_views(tensors: list[torch.Tensor]) -> list[Any]:
    view = host_view
    return [view(t) for t in tensors]
