"""What the run-create request says about the machine, the devices and the framework.

Read once when an Observer starts. Each function returns a plain dict (the protocol stores these
objects as given); a value that cannot be read is left out rather than guessed.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Any

import torch

__all__ = ["device_info", "framework_info", "host_info", "usable_cpu_count"]


def usable_cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return platform.processor() or None


def host_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "pid": os.getpid(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable_cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "argv": sys.argv[:32],
    }
    return {k: v for k, v in info.items() if v is not None}


def device_info() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"type": "cpu", "count": 0}
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "memory_bytes": int(props.total_memory),
                "capability": f"{props.major}.{props.minor}",
                "multiprocessors": int(props.multi_processor_count),
            }
        )
    return {
        "type": "cuda",
        "count": len(devices),
        "name": devices[0]["name"] if devices else None,
        "memory_bytes": devices[0]["memory_bytes"] if devices else None,
        "devices": devices,
    }


def _cudnn_version() -> int | None:
    cudnn: Any = torch.backends.cudnn  # untyped module
    return int(cudnn.version()) if cudnn.is_available() and cudnn.version() else None


def framework_info() -> dict[str, Any]:
    from . import __version__

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "python": platform.python_version(),
        "atlas_observatory": __version__,
    }
    return {k: v for k, v in info.items() if v is not None}
