"""Device resource readings for step records: CUDA memory and GPU use.

Host RSS and CPU use are read by libatlas's StepRecorder (atlas/step_recorder.hpp), with the
rest of a step's bookkeeping. The CUDA figures are the caching allocator's counters (no device
synchronisation). GPU utilisation needs NVML (pynvml); without it the field is left out, and
that is said once in the log.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from .containment import logger

__all__ = ["ResourceSampler"]


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
    """Reads the CUDA fields of a step record. One per Observer, on the training thread."""

    def __init__(
        self, track_memory: bool, device: torch.device | None, interval_s: float = 0.0
    ) -> None:
        self._track_memory = track_memory
        self._cuda_index: int | None = None
        self._gpu: _GpuUtil | None = None
        self._interval_s = interval_s
        self._last_read: float | None = None  # time.monotonic() of the last due()
        self._last_epoch: int | None = None
        self.set_device(device)

    def due(self, epoch: int | None) -> bool:
        """Whether a step of `epoch` should be read now: the first of each epoch, else once
        `interval_s` has passed since the last (ObserverConfig.system_interval_s). A True
        answer counts as a reading."""
        now = time.monotonic()
        if (
            self._last_read is not None
            and epoch == self._last_epoch
            and now - self._last_read < self._interval_s
        ):
            return False
        self._last_read, self._last_epoch = now, epoch
        return True

    @property
    def active(self) -> bool:
        """Whether there is anything to read (a CUDA model)."""
        return self._cuda_index is not None

    def set_device(self, device: torch.device | None) -> None:
        """Follows the device of the model's parameters (CUDA figures only for CUDA)."""
        if device is None or device.type != "cuda" or not torch.cuda.is_available():
            return
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index != self._cuda_index:
            self._cuda_index = index
            self._gpu = _GpuUtil(index)

    def read(self, fields: dict[str, float]) -> None:
        """Adds CUDA memory (with track_memory) and GPU utilisation to `fields`."""
        if self._cuda_index is not None and self._track_memory:
            index = self._cuda_index
            fields["cuda_allocated_bytes"] = float(torch.cuda.memory_allocated(index))
            fields["cuda_reserved_bytes"] = float(torch.cuda.memory_reserved(index))
            fields["cuda_peak_bytes"] = float(torch.cuda.max_memory_allocated(index))
        if self._gpu is not None:
            util = self._gpu.read()
            if util is not None:
                fields["gpu_util_percent"] = util
