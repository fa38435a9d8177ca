"""Process resource readings for step records: host RSS, CPU use, CUDA memory, GPU use.

Cheap by construction, so they can run every step: RSS is one ``pread`` of /proc/self/statm on a
kept descriptor (about a microsecond; reopened after a fork, since /proc/self names the opening
process), CPU use is the process CPU time over wall time since the last reading, and the CUDA
figures are the caching allocator's counters (no device synchronisation). GPU utilisation needs
NVML (pynvml); without it the field is left out, and that is said once in the log.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from .containment import logger
from .hostinfo import usable_cpu_count

__all__ = ["ResourceSampler"]


class _Rss:
    """The resident set size of this process, from /proc/self/statm (Linux), or None."""

    def __init__(self) -> None:
        self._pid = -1
        self._fd = -1
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def read(self) -> int | None:
        if self._pid != os.getpid():
            self._reopen()
        if self._fd < 0:
            return None
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return None

    def _reopen(self) -> None:
        self._pid = os.getpid()
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = -1

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1


class _GpuUtil:
    """GPU utilisation through NVML when pynvml is importable; otherwise None, said once."""

    def __init__(self, device_index: int) -> None:
        self._handle: Any = None
        self._nvml: Any = None
        try:
            import pynvml  # type: ignore[import-not-found,unused-ignore]

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
            self._nvml = pynvml
        except Exception as error:  # ImportError, or any NVML failure: no GPU utilisation
            logger.info("atlas_observatory: no GPU utilisation (NVML unavailable: %s)", error)

    def read(self) -> float | None:
        if self._handle is None:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
        except Exception:  # NVML errors (device lost, driver reset): leave the field out
            return None


class ResourceSampler:
    """Reads the resource fields of a step record. One per Observer, on the training thread."""

    def __init__(self, track_memory: bool, device: torch.device | None) -> None:
        self._track_memory = track_memory
        self._rss = _Rss()
        self._cores = usable_cpu_count()
        self._last_cpu = time.process_time()
        self._last_wall = time.perf_counter()
        self._cuda_index: int | None = None
        self._gpu: _GpuUtil | None = None
        self.set_device(device)

    def set_device(self, device: torch.device | None) -> None:
        """Follows the device of the model's parameters (CUDA figures only for CUDA)."""
        if device is None or device.type != "cuda" or not torch.cuda.is_available():
            return
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index != self._cuda_index:
            self._cuda_index = index
            self._gpu = _GpuUtil(index)

    def read(self, fields: dict[str, float]) -> None:
        """Adds rss_bytes, cpu_percent, CUDA memory and GPU utilisation to `fields`."""
        now_cpu = time.process_time()
        now_wall = time.perf_counter()
        wall = now_wall - self._last_wall
        if wall > 0:
            # Of every CPU this process may use, so 100 means all of them are busy.
            fields["cpu_percent"] = max(
                0.0, 100.0 * (now_cpu - self._last_cpu) / (wall * self._cores)
            )
        self._last_cpu, self._last_wall = now_cpu, now_wall
        if not self._track_memory:
            return
        rss = self._rss.read()
        if rss is not None:
            fields["rss_bytes"] = float(rss)
        if self._cuda_index is not None:
            index = self._cuda_index
            fields["cuda_allocated_bytes"] = float(torch.cuda.memory_allocated(index))
            fields["cuda_reserved_bytes"] = float(torch.cuda.memory_reserved(index))
            fields["cuda_peak_bytes"] = float(torch.cuda.max_memory_allocated(index))
        if self._gpu is not None:
            util = self._gpu.read()
            if util is not None:
                fields["gpu_util_percent"] = util

    def close(self) -> None:
        self._rss.close()
