"""Turning arbitrary Python values into protocol-v1 JSON.

Hyperparameters, configs and ``extra`` objects hold whatever users put in them: numpy scalars,
tensors, paths, enums, dataclasses, sets. ``to_jsonable`` maps each to plain JSON (tensors of one
element to their number, anything unknown to its ``repr``), and writes non-finite floats as the
protocol's strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps", "telemetry_number", "to_jsonable"]

_MAX_DEPTH = 32
_MAX_ITEMS = 10_000


def telemetry_number(value: float) -> float | str:
    """A float as protocol v1 writes telemetry values: non-finite ones as strings."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _number(value: Any) -> Any:
    """The plain int/float of a numeric scalar (bool, numpy, 0-d tensor), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return telemetry_number(float(value))
    item = getattr(value, "item", None)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    if callable(item):
        try:
            size = numel() if callable(numel) else numel
            if size in (None, 1):
                return _number(item())
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-compatible data (see the module docstring); never raises on odd input."""
    if value is None or isinstance(value, str):
        return value
    number = _number(value)
    if number is not None:
        return number
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth + 1)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), depth + 1)
    if isinstance(value, Mapping):
        return {
            str(k): to_jsonable(v, depth + 1)
            for i, (k, v) in enumerate(value.items())
            if i < _MAX_ITEMS
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(v, depth + 1) for v in list(items)[:_MAX_ITEMS]]
    tolist = getattr(value, "tolist", None)  # numpy arrays and tensors
    if callable(tolist):
        try:
            return to_jsonable(tolist(), depth + 1)
        except (TypeError, ValueError, RuntimeError):
            return repr(value)
    if callable(value):
        return getattr(value, "__qualname__", None) or repr(value)
    return repr(value)


def dumps(value: Any) -> str:
    """Compact JSON text of `value` after to_jsonable."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)
