"""Facts about a model and a batch that the Observer needs and the user should not have to say.

- ``unwrap``: the module whose structure is the model's (``torch.compile``'s ``_orig_mod``,
  DataParallel/DistributedDataParallel's ``module``).
- ``targets_parameter``: whether ``observer.step`` passes the targets to the model, and by which
  name (nanoGPT's ``forward(idx, targets=None)``, Hugging Face's ``labels``).
- ``split_output``: (logits, loss) from what the model returned.
- ``batch_size`` and ``token_count``: samples and tokens of a batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = [
    "TARGET_PARAMETER_NAMES",
    "batch_size",
    "data_parallel_ranks",
    "first_tensor",
    "is_compiled",
    "parameter_device",
    "split_output",
    "targets_parameter",
    "token_count",
    "unwrap",
]

TARGET_PARAMETER_NAMES = ("targets", "target", "labels", "y")


def is_compiled(model: nn.Module) -> bool:
    """Whether `model` is a torch.compile wrapper (an OptimizedModule)."""
    return isinstance(getattr(model, "_orig_mod", None), nn.Module)


def unwrap(model: nn.Module) -> nn.Module:
    """The module that holds the model's structure, through compile and data-parallel wrappers."""
    for _ in range(8):  # wrappers nest (a compiled DDP model); a cycle cannot go on forever
        inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "module", None)
            if not isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
                inner = None
        if not isinstance(inner, nn.Module):
            return model
        model = inner
    return model


def data_parallel_ranks(model: nn.Module) -> int:
    """How many processes a DistributedDataParallel model's gradients are averaged over (the
    world size; 1 for any other model): each step's gradient is then that many batches'."""
    for _ in range(8):
        if isinstance(model, nn.parallel.DistributedDataParallel):
            import torch.distributed as dist

            return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return 1
        model = inner
    return 1


def targets_parameter(model: nn.Module) -> str | None:
    """The name of the forward parameter that takes the targets, or None (see the docstring)."""
    try:
        signature = inspect.signature(unwrap(model).forward)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    for param in params[1:]:
        if param.name in TARGET_PARAMETER_NAMES and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            return param.name
    return None


def is_loss_tensor(value: object) -> bool:
    """What a model may return as its own loss: a one-element floating tensor."""
    return isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point()


def split_output(output: Any) -> tuple[Any, torch.Tensor | None]:
    """(logits, loss) from a model's output: a (logits, loss) pair, a mapping with "loss" and
    "logits" (Hugging Face style), an object with those attributes, or plain logits."""
    if isinstance(output, torch.Tensor):  # plain logits, the common case, decided first
        return output, None
    if isinstance(output, tuple | list) and len(output) == 2 and is_loss_tensor(output[1]):
        return output[0], output[1]
    if isinstance(output, Mapping):
        loss = output.get("loss")
        logits = output.get("logits", output)
        return logits, loss if is_loss_tensor(loss) else None
    loss = getattr(output, "loss", None)
    if is_loss_tensor(loss) and hasattr(output, "logits"):
        return output.logits, loss
    return output, None


def first_tensor(value: Any, depth: int = 0) -> torch.Tensor | None:
    """The first tensor in `value` (itself, or inside a tuple, list or mapping)."""
    if isinstance(value, torch.Tensor):
        return value
    if depth > 4:
        return None
    items: Any = value.values() if isinstance(value, Mapping) else value
    if isinstance(items, tuple | list) or isinstance(value, Mapping):
        for item in items:
            found = first_tensor(item, depth + 1)
            if found is not None:
                return found
    return None


def batch_counts(batch: Any) -> tuple[int | None, int | None]:
    """(batch_size(batch), token_count(batch)), finding the batch's first tensor once."""
    tensor = batch if isinstance(batch, torch.Tensor) else first_tensor(batch)
    if tensor is None or tensor.dim() == 0:
        return None, None
    return int(tensor.shape[0]), _tokens(tensor)


def batch_size(batch: Any) -> int | None:
    """The size of the first dimension of the batch's first tensor."""
    tensor = first_tensor(batch)
    if tensor is None or tensor.dim() == 0:
        return None
    return int(tensor.shape[0])


def token_count(batch: Any) -> int | None:
    """Tokens in a batch of token ids (an integer tensor of at least 2 dimensions), else None."""
    tensor = first_tensor(batch)
    return None if tensor is None else _tokens(tensor)


def _tokens(tensor: torch.Tensor) -> int | None:
    if tensor.dim() < 2 or tensor.is_floating_point() or tensor.is_complex():
        return None
    if tensor.dtype == torch.bool:
        return None
    return int(tensor.numel())


def parameter_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter (or buffer), or None for an empty model."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return None
