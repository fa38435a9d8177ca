"""Where and in what precision the model trains, as measured at its first forward.

atlasd's device checks (``device.cpu_only``, ``device.mixed_precision_missed``) read ``device``,
``precision``, ``autocast``, ... from the run's hyperparameters (then its config). A run's
config is sent when the run is created, before the Observer has seen the model, and the protocol
has no record that changes it later; hyperparameters records, however, are merged key by key
into the run's. So the Observer sends what it measured as one hyperparameters record, after the
model's first training forward:

- ``device``: the device of the model's first parameter, as torch names it (``"cpu"``,
  ``"cuda:0"``, ``"mps:0"``);
- ``param_dtype``: the dtype of its first floating-point parameter (``"float32"``);
- ``precision``: the dtype the forward computes in: autocast's dtype when autocast is enabled
  for the parameters' device type during the forward, else the dtype of the forward's floating
  output (a model cast with ``.half()`` computes in float16), else ``param_dtype``;
- ``autocast``: ``true``, only when autocast was enabled during the forward or the output is in
  half precision while the parameters are not (a model that enters autocast itself). It is left
  out otherwise, so that a model trained in pure bfloat16 is not reported as float32 training
  (the checks read a boolean ``autocast`` before ``precision``).

Keys the user logged with ``log_hyperparameters`` are left out: the user's values stand.

Threading: the training thread.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.amp import is_autocast_available

__all__ = ["dtype_name", "first_float_parameter", "measured_settings", "probe_forward"]

_HALF = (torch.float16, torch.bfloat16)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def first_float_parameter(model: torch.nn.Module) -> torch.Tensor | None:
    for param in model.parameters():
        if param.is_floating_point():
            return param
    return None


def measured_settings(
    device: torch.device,
    param_dtype: torch.dtype,
    autocast_dtype: torch.dtype | None,
    output_dtype: torch.dtype | None,
) -> dict[str, Any]:
    """The settings to report (see the module docstring): `autocast_dtype` is autocast's dtype
    when it was enabled during the forward (else None), `output_dtype` the dtype of the
    forward's floating-point output (None when it had none)."""
    settings: dict[str, Any] = {"device": str(device), "param_dtype": dtype_name(param_dtype)}
    if autocast_dtype is not None:
        settings["autocast"] = True
        settings["precision"] = dtype_name(autocast_dtype)
    elif output_dtype in _HALF and param_dtype not in _HALF:
        settings["autocast"] = True
        settings["precision"] = dtype_name(output_dtype)
    else:
        settings["precision"] = dtype_name(output_dtype or param_dtype)
    return settings


def probe_forward(param: torch.Tensor, output: torch.Tensor | None) -> dict[str, Any]:
    """measured_settings of a forward, read while it is in progress (or right after it, still
    inside the caller's autocast region): `param` is the model's first floating parameter."""
    device_type = param.device.type
    autocast_dtype: torch.dtype | None = None
    if is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        autocast_dtype = torch.get_autocast_dtype(device_type)
    output_dtype = output.dtype if output is not None and output.is_floating_point() else None
    return measured_settings(param.device, param.dtype, autocast_dtype, output_dtype)
