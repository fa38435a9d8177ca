"""The gradient noise scale: an estimate of the critical batch size while the model trains.

McCandlish et al. 2018 ("An Empirical Model of Large-Batch Training", section 2.2 and appendix
A.1) define the simple noise scale ``B_simple = tr(Sigma) / |G|^2``: the trace of the per-sample
gradient covariance over the squared norm of the true gradient. Training with a batch much larger
than it buys few steps for many more samples. Neither quantity can be read from one gradient,
but a minibatch gradient of B samples satisfies ``E|g_B|^2 = |G|^2 + tr(Sigma) / B``, so two
batch sizes give both (the paper's unbiased estimators):

    |G|^2     ~ (B_big |g_big|^2 - B_small |g_small|^2) / (B_big - B_small)
    tr(Sigma) ~ (|g_small|^2 - |g_big|^2) / (1 / B_small - 1 / B_big)

Here the small batch is one training step's and the big batch a window of K consecutive
steps (the parameters move little over K steps): ``|g_small|^2`` is the mean over the window's
steps of each step's squared gradient norm, and ``g_big`` the samples-weighted mean of their
gradients, the gradient of all the window's samples. With steps of different sizes ``b_i``,
``1 / B_small`` is the mean of ``1 / b_i`` and ``B_big`` their sum (both estimators stay
unbiased). One window's estimates are noisy (either may come out negative), so each is smoothed
over windows (an exponential moving average, bias-corrected as Adam's moments are) before the
ratio is taken, as the paper advises.

Cost: nothing outside windows. During a window each step adds its gradients, weighted by its
batch size, into one buffer per parameter and computes their squared norm; the buffers (one
float copy of the gradients) are kept from window to window. On CPU, with float32 gradients,
both are one pass of a C++ kernel over each gradient (``_atlas.noise_accumulate``); elsewhere
two ``_foreach`` calls, whose numbers reach the host once, when the window ends. A window whose
gradients held a NaN or an infinity is dropped. The estimate is invariant to a constant scale
of the gradients (a loss divided by the accumulation steps, a constant loss scale), since both
estimates scale alike.

Threading: used from the training thread only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from . import _atlas
from .host_view import host_view

__all__ = ["GradientNoise", "NoiseScaleEstimator", "NoiseScaleReading", "in_window"]

# The moving averages' decay per window: about the last five windows carry the estimate.
SMOOTHING = 0.8


def in_window(step: int, every: int, window: int) -> bool:
    """Whether `step` belongs to a window: the `window` steps ending at each multiple of `every`
    (step 0 ends a window of its own, which has too few steps to estimate anything)."""
    phase = step % every
    return phase == 0 or phase > every - min(window, every)


@dataclass(frozen=True)
class NoiseScaleReading:
    """The smoothed estimate after the latest window."""

    noise_scale: float  # B_simple = tr(Sigma) / |G|^2, in samples
    grad_sq: float  # |G|^2
    trace_sigma: float  # tr(Sigma), per sample
    batch_size: float  # the small batch (one step's; a harmonic mean when steps differ)
    windows: int  # windows averaged so far

    def extra(self) -> dict[str, float]:
        """The fields of the layer_stats root entry's ``extra``."""
        return {
            "gradient_noise_scale": self.noise_scale,
            "gns_grad_sq": self.grad_sq,
            "gns_trace_sigma": self.trace_sigma,
            "gns_batch_size": self.batch_size,
            "gns_windows": float(self.windows),
        }


class NoiseScaleEstimator:
    """The arithmetic of the estimate, from each window's host numbers (no torch)."""

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self._decay = smoothing
        self._grad_sq = 0.0
        self._trace = 0.0
        self._weight = 0.0  # 1 - decay^windows: the bias correction of the averages
        self._batch = 0.0
        self.windows = 0

    def add_window(
        self, small_sq_mean: float, inv_small_batch: float, big_sq: float, big_batch: float
    ) -> bool:
        """Adds one window: `small_sq_mean` the mean of its steps' |g|^2, `inv_small_batch` the
        mean of their 1 / b, `big_sq` the |g|^2 of its samples-weighted mean gradient and
        `big_batch` its samples. False (nothing added) for a window that cannot estimate."""
        inv_big_batch = 1.0 / big_batch if big_batch > 0 else math.inf
        spread = inv_small_batch - inv_big_batch
        numbers = (small_sq_mean, inv_small_batch, big_sq, big_batch)
        if not all(math.isfinite(v) for v in numbers) or not spread > 0:
            return False
        trace = (small_sq_mean - big_sq) / spread
        grad_sq = (big_sq * inv_small_batch - small_sq_mean * inv_big_batch) / spread
        decay = self._decay
        self._trace = decay * self._trace + (1.0 - decay) * trace
        self._grad_sq = decay * self._grad_sq + (1.0 - decay) * grad_sq
        self._weight = decay * self._weight + (1.0 - decay)
        self._batch = 1.0 / inv_small_batch
        self.windows += 1
        return True

    def reading(self) -> NoiseScaleReading | None:
        """The smoothed estimate; None before a window or while either average is not positive
        (early windows can give a negative |G|^2 or trace: noise, not a measurement)."""
        if self.windows == 0 or self._weight <= 0:
            return None
        grad_sq = self._grad_sq / self._weight
        trace = self._trace / self._weight
        if not (grad_sq > 0 and trace > 0):
            return None
        scale = trace / grad_sq
        if not math.isfinite(scale):
            return None
        return NoiseScaleReading(scale, grad_sq, trace, self._batch, self.windows)


def _kernel_can_read(grad: torch.Tensor) -> bool:
    """Whether _atlas.noise_accumulate takes `grad` as it is (a dense CPU float32 tensor in
    one contiguous block)."""
    return grad.is_cpu and grad.dtype == torch.float32 and grad.is_contiguous()


def _squared_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The squared L2 norm of all of `tensors` together (float64, on the first one's device),
    without a synchronisation: a few operations whatever their number."""
    norms = list(torch._foreach_norm(tensors))
    device = norms[0].device
    if any(n.device != device for n in norms):
        norms = [n.to(device) for n in norms]
    total: torch.Tensor = torch.linalg.vector_norm(torch.stack(norms), dtype=torch.float64)
    return total.square()


class GradientNoise:
    """Measures the gradient noise scale of `params` over windows of steps (module docs)."""

    def __init__(self, params: list[torch.nn.Parameter], smoothing: float = SMOOTHING) -> None:
        self._params = params
        self._estimator = NoiseScaleEstimator(smoothing)
        self._buffers: dict[int, torch.Tensor] = {}  # samples-weighted gradient sums
        self._buffer_views: dict[int, Any] = {}  # host_view of each CPU buffer, made once
        self._in_window: set[int] = set()  # parameters whose buffer holds this window's sum
        # Each step's |g|^2: on the host (the C++ kernel's, when the window's first step had
        # CPU float32 gradients) or on the gradients' device.
        self._on_host = False
        self._host_sq: list[float] = []
        self._step_sq: list[torch.Tensor] = []
        self._inverse_batches: list[float] = []
        self._samples = 0.0
        self._usable = True  # False once a step of the window could not be taken
        # While every parameter's CPU buffer holds this window's sum: the buffers' views in
        # parameter order, for the window's common step (_add_every_gradient); else None.
        self._every_sum: list[Any] | None = None

    @property
    def steps_in_window(self) -> int:
        return len(self._host_sq) + len(self._step_sq)

    def set_params(self, params: list[torch.nn.Parameter]) -> None:
        """Measures `params` from now on (the window in progress is dropped: its sums were of
        other parameters)."""
        if [id(p) for p in params] == [id(p) for p in self._params]:
            return
        self._params = params
        self._buffers = {}
        self._buffer_views = {}
        self._in_window.clear()
        self._every_sum = None
        self._usable = False  # until end_window starts the next one

    def observe(self, batch_size: float) -> None:
        """Adds the current gradients (those of one step of `batch_size` samples, final: after
        backward, before the optimizer step) to the window."""
        if not self._usable:
            return
        if not batch_size > 0:
            self._usable = False
            return
        every_sum = self._every_sum
        if every_sum is not None and self._add_every_gradient(every_sum, float(batch_size)):
            return
        indices: list[int] = []
        grads: list[torch.Tensor] = []
        for index, param in enumerate(self._params):
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse or not grad.is_floating_point():
                self._usable = False
                return
            indices.append(index)
            grads.append(grad.detach() if grad.requires_grad else grad)
        if not grads:
            return
        with torch.no_grad():
            self._add(indices, grads, float(batch_size))

    def _add(self, indices: list[int], grads: list[torch.Tensor], batch: float) -> None:
        if self.steps_in_window == 0:  # the window's first step chooses how it is added up
            self._on_host = all(_kernel_can_read(g) for g in grads)
        if self._on_host:
            self._add_on_host(indices, grads, batch)
        else:
            self._add_with_torch(indices, grads, batch)
        self._inverse_batches.append(1.0 / batch)
        self._samples += batch

    def _add_every_gradient(self, sums: list[Any], batch: float) -> bool:
        """The common step of a window on CPU, with as little Python as can be: every
        parameter's gradient into its sum, in one call. False when the general path must take
        the step (a parameter without a gradient, a gradient in a graph or not on the CPU)."""
        try:
            view: Any = host_view  # a gradient of None raises: the general path skips it
            grads = [view(param.grad) for param in self._params]
            squared = _atlas.noise_accumulate(grads, sums, batch)
        except (AttributeError, TypeError, RuntimeError):  # before anything is added
            return False
        self._host_sq.append(squared)
        self._inverse_batches.append(1.0 / batch)
        self._samples += batch
        return True

    def _add_on_host(self, indices: list[int], grads: list[torch.Tensor], batch: float) -> None:
        """One pass of the C++ kernel: each buffer += batch * gradient (set at the parameter's
        first step in the window), and the step's |g|^2."""
        buffers, views = self._buffers, self._buffer_views
        reset: list[bool] = []
        if len(self._in_window) < len(indices):
            for index, grad in zip(indices, grads, strict=True):
                fresh = index not in self._in_window
                reset.append(fresh)
                if not fresh:
                    continue
                buffer = buffers.get(index)
                if buffer is None or index not in views or buffer.shape != grad.shape:
                    buffers[index] = buffer = torch.empty_like(grad)  # reset: never read
                    views[index] = host_view(buffer)
                self._in_window.add(index)
        try:
            squared = _atlas.noise_accumulate(
                [host_view(g) for g in grads], [views[i] for i in indices], batch, reset
            )
        except (TypeError, RuntimeError):  # a later step's gradients are not CPU float32
            self._usable = False
            return
        self._host_sq.append(squared)
        if len(self._in_window) == len(self._params):
            self._every_sum = [views[i] for i in range(len(self._params))]

    def _add_with_torch(self, indices: list[int], grads: list[torch.Tensor], batch: float) -> None:
        wide = [g if g.dtype == torch.float32 else g.float() for g in grads]
        self._step_sq.append(_squared_norm(wide))
        buffers = self._buffers
        stale: list[torch.Tensor] = []
        if len(self._in_window) < len(indices):
            for index, grad in zip(indices, wide, strict=True):
                if index in self._in_window:
                    continue
                buffer = buffers.get(index)
                if buffer is None or buffer.shape != grad.shape or buffer.device != grad.device:
                    buffers[index] = torch.zeros_like(grad)
                    self._buffer_views.pop(index, None)
                else:
                    stale.append(buffer)  # the previous window's sum
                self._in_window.add(index)
        if stale:
            torch._foreach_zero_(stale)
        torch._foreach_add_([buffers[i] for i in indices], wide, alpha=batch)

    def end_window(self) -> NoiseScaleReading | None:
        """Closes the window (adding its estimate, when it has one) and returns the smoothed
        reading; None when no estimate exists yet."""
        try:
            if self._usable and self.steps_in_window >= 2:
                self._add_window()
        finally:
            self._step_sq = []
            self._host_sq = []
            self._every_sum = None
            self._inverse_batches = []
            self._samples = 0.0
            self._in_window.clear()
            self._usable = True
        return self._estimator.reading()

    def _add_window(self) -> None:
        with torch.no_grad():
            big = _squared_norm([self._buffers[i] for i in sorted(self._in_window)])
            if self._on_host:
                host = [*self._host_sq, float(big)]
            else:
                device = self._step_sq[0].device
                parts = [torch.stack(self._step_sq), big.to(device)[None]]
                host = torch.cat(parts).cpu().tolist()  # the window's one transfer
        small_sq = host[:-1]
        big_sq = host[-1] / (self._samples * self._samples)
        small_mean = sum(small_sq) / len(small_sq)
        inverse = sum(self._inverse_batches) / len(self._inverse_batches)
        self._estimator.add_window(small_mean, inverse, big_sq, self._samples)
