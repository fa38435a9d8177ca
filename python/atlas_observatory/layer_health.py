"""Layer health: per-layer statistics of activations, gradients and weights at sampled steps.

A sample has three moments, all on the training thread:

1. ``arm(step)`` installs forward hooks (never backward hooks: a full backward hook breaks
   ``ReLU(inplace=True)``) on every watched module: the leaves and the modules that own
   parameters. Each hook reduces the module's output right away, on the device, into running
   sums (so an in-place activation that later overwrites the output changes nothing), and only
   while gradients are enabled (a ``torch.no_grad()`` evaluation pass is not a training step).
   The hooks stop after the step's forward (``stop_activations``): they come off, except with
   ``layer_health_every=1``, where they stay on (idle outside a sample's forward) because every
   training forward is sampled anyway.
2. ``collect()`` reads gradients and weights of each module's own parameters (after backward,
   ideally right before the optimizer step, when gradients are final: unscaled by a GradScaler,
   clipped, accumulated) and keeps a copy of the weights for the update ratio.
3. ``complete()`` compares the weights with that copy (after the optimizer step, so the ratio is
   ``||W_after - W_before|| / ||W_before||`` of one real update), then moves every number of the
   sample to the host in one transfer (one ``torch.cat`` and one ``.cpu()`` per device), and
   emits a ``layer_stats`` record.

On the CPU, each watched float32 output, weight and gradient is reduced by one pass of a C++
kernel (``_atlas.accumulate_units``, ``tensor_stats``, ``squared_distances``: every statistic of
a tensor at once, vectorised; the weights' pass also writes their copy), the views the kernels
read weights and copies through are kept from sample to sample (_HostParams), and one C++ call
(``_atlas.host_layer_stats_json``) derives every figure of the record from those float64
accumulators and writes its JSON text, so a sample does no per-layer or per-unit Python work.
Other devices and dtypes take torch operations, as follows. On the device, each watched output
costs a handful of reductions (per-unit sums of a, |a| and
of a > 0, and the norm of a); parameters and gradients are reduced with torch's ``_foreach``
operations, one call for every tensor of the model; the weight copy lives in buffers reused from
sample to sample. Layer-wide figures (means, dead and dormant fractions) are then derived on the
host from the per-unit sums. Non-finite values are counted exactly: on CUDA always (a counting
pass is cheap there, and a check would synchronise), on the CPU only when the norm shows there
are any (reading a CPU number costs nothing).

Definitions (a "unit" is a channel of a convolution or batch norm output, else the last
dimension; "positions" are all other elements of the batch):

- activation_mean / activation_std / activation_abs_mean: over all output elements.
- dead_fraction: the fraction of units that were never > 0 at any position of the batch (for
  ReLU-family outputs, dead ReLUs; for signed outputs, units a following ReLU would never pass).
  ``extra.unit_active_frac`` holds each unit's fraction of positions > 0.
- ``extra.unit_score`` is ReDo's normalised score (Sokar et al., 2023): a unit's mean |activation|
  divided by the layer's mean of those means; ``extra.dormant_fraction`` the fraction of units
  whose score is <= ``dormant_threshold``.
- saturated_fraction: for Tanh, the fraction of outputs with |a| > 0.99; for Sigmoid, < 0.01 or
  > 0.99 (``extra.unit_saturated_frac`` per unit). Absent for other layers.
- grad_norm / grad_abs_mean, weight_norm / weight_abs_mean: over the module's own parameters;
  weight_sparsity: the fraction of weights with |w| < 1e-8.
- nonfinite_*: counts of NaN and infinite values.
Per-unit arrays keep at most ``layer_health_max_units`` units (``extra.units`` says how many
there were).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from . import _atlas
from .config import ObserverConfig
from .containment import Containment
from .host_view import host_view, host_views
from .modelinfo import first_tensor

__all__ = ["LayerHealth", "watched_modules"]

_SPARSE_EPS = 1e-8
_CHANNEL_FIRST: tuple[type[nn.Module], ...] = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
)
_NON_NEGATIVE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.Sigmoid,
    nn.Softmax,
    nn.Softplus,
    nn.Hardsigmoid,
)
# Modules whose output holds the same values as their input (or a masked copy): statistics of
# theirs would repeat the previous module's at the cost of more passes.
_PASS_THROUGH: tuple[type[nn.Module], ...] = (
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.modules.dropout._DropoutNd,
)
_MAX_LAYERS = 10_000  # protocol v1: layer entries per layer_stats record
_SATURATION_CODE = {None: 0, "tanh": 1, "sigmoid": 2}  # _atlas.accumulate_units' saturation


def watched_modules(root: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that get statistics: leaves and modules owning parameters (not containers),
    except pass-through modules (Flatten, Identity, Dropout)."""
    out = []
    for name, module in root.named_modules():
        is_leaf = next(iter(module.children()), None) is None
        owns = next(iter(module.parameters(recurse=False)), None) is not None
        if (is_leaf or owns) and (name or is_leaf) and not isinstance(module, _PASS_THROUGH):
            out.append((name, module))
    return out[:_MAX_LAYERS]


@dataclass
class _Layer:
    name: str
    module: nn.Module
    params: list[nn.Parameter]
    channel_first: bool
    saturation: str | None  # "tanh", "sigmoid" or None
    non_negative: bool  # the output is never negative (ReLU family, Sigmoid, Softmax)
    # Sums of one sample's activations (device tensors; None until the first call).
    unit_sum: torch.Tensor | None = None
    unit_abs: torch.Tensor | None = None
    unit_active: torch.Tensor | None = None
    unit_sat: torch.Tensor | None = None
    norms: list[torch.Tensor] = field(default_factory=list)  # ||a|| of each call
    nonfinite: list[torch.Tensor | float] = field(default_factory=list)
    elements: int = 0
    rows: int = 0
    # The CPU path's accumulator: [sum | abs | active | saturated] per unit, then the sum of
    # squares and the non-finite count (float64; see _atlas.accumulate_units). `host_buffer`
    # keeps its memory from sample to sample.
    host: torch.Tensor | None = None
    host_buffer: torch.Tensor | None = None
    host_buffer_view: Any = None  # host_view(host_buffer), made once
    # The (units, inner) of the last output shape seen (_unit_layout), by that shape.
    host_shape: torch.Size | None = None
    host_layout: tuple[int, int] = (0, 0)

    def reset(self) -> None:
        self.unit_sum = self.unit_abs = self.unit_active = self.unit_sat = None
        self.host = None
        self.norms = []
        self.nonfinite = []
        self.elements = self.rows = 0


@dataclass
class _Params:
    """The sample's reductions of parameters and gradients, one entry per parameter."""

    layer_of: list[int]  # index into LayerHealth._layers, per parameter
    weight_norm: torch.Tensor | None  # one value per parameter (None: no parameters)
    weight_abs: torch.Tensor | None
    weight_small: torch.Tensor | None
    weight_nonfinite: list[torch.Tensor | float]
    grad_of: list[int]  # parameter index, per gradient
    grad_norm: torch.Tensor | None  # one value per gradient
    grad_abs: torch.Tensor | None
    grad_nonfinite: list[torch.Tensor | float]
    snapshot_of: list[int]  # parameter index, per weight copy
    update_norm: torch.Tensor | None = None
    # The CPU path's raw figures (float64; see _atlas.tensor_stats): four per weight and per
    # gradient, and the squared update per weight copy. The fields above are derived from them
    # only when the record is not written by _atlas.host_layer_stats_json (_expand_host).
    host_weight: torch.Tensor | None = None
    host_grad: torch.Tensor | None = None
    update_sq: torch.Tensor | None = None


@dataclass
class _Sample:
    step: int
    epoch: int | None
    params: _Params | None = None


def _own_params(module: nn.Module, seen: set[int]) -> list[nn.Parameter]:
    params = []
    for param in module.parameters(recurse=False):
        if id(param) not in seen:
            seen.add(id(param))
            params.append(param)
    return params


def _saturation(module: nn.Module) -> str | None:
    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.Sigmoid):
        return "sigmoid"
    return None


class LayerHealth:
    """Takes layer_stats samples of one model (see the module docstring)."""

    def __init__(
        self,
        root: nn.Module,
        config: ObserverConfig,
        containment: Containment,
        emit: Callable[[str, str], None],
        activations: bool,
    ) -> None:
        self._config = config
        self._containment = containment
        self._emit = emit
        self._activations = activations
        seen: set[int] = set()
        self._layers = [
            _Layer(
                name,
                module,
                _own_params(module, seen),
                isinstance(module, _CHANNEL_FIRST),
                _saturation(module),
                isinstance(module, _NON_NEGATIVE),
            )
            for name, module in watched_modules(root)
        ]
        # Every watched parameter once, with the index of its layer.
        self._flat = [(i, p) for i, layer in enumerate(self._layers) for p in layer.params]
        self._param_layer = [i for i, _ in self._flat]
        self._param_size = [p.numel() for _, p in self._flat]
        self._buffers: dict[int, torch.Tensor] = {}  # weight copies, by parameter index
        self._host_params: _HostParams | None = None  # the CPU path's views (_host_params_now)
        self._sample: _Sample | None = None
        # The activation hooks, and whether they reduce the outputs they see. Sampling every
        # step, the hooks stay on between samples (putting nine hooks on and taking them off
        # again cost more than the step's other Python); otherwise they are on only while a
        # sample's forward runs, so unsampled steps pay nothing.
        self._handles: list[RemovableHandle] = []
        self._watching = False
        self._persistent = config.layer_health_every == 1

    @property
    def armed(self) -> bool:
        return self._sample is not None

    @property
    def collected(self) -> bool:
        return self._sample is not None and self._sample.params is not None

    def arm(self, step: int, epoch: int | None) -> None:
        """Starts a sample at `step`: activation hooks go on (when activations are watched)."""
        self.close()
        self._sample = _Sample(step, epoch)
        if self._activations:
            if not self._handles:
                self._handles = [
                    layer.module.register_forward_hook(self._hook(layer)) for layer in self._layers
                ]
            self._watching = True

    def stop_activations(self) -> None:
        self._watching = False
        if not self._persistent:
            self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def collect(self) -> None:
        """Reads gradients and weights and copies the weights (once per sample)."""
        sample = self._sample
        if sample is None or sample.params is not None:
            return
        with torch.no_grad():
            sample.params = self._reduce_params()

    def complete(self, root_extra: dict[str, float] | None = None) -> None:
        """Computes update ratios against the copy, transfers everything once, emits.
        `root_extra` goes into the ``extra`` of the root module's entry (layer ``""``), which is
        added when the root is not a watched module (the gradient noise scale rides there)."""
        sample = self._sample
        if sample is None:
            return
        self.stop_activations()
        self._sample = None
        try:
            if sample.params is None:
                return  # no gradients were seen: activations alone would mislead
            with torch.no_grad():
                self._update_norms(sample.params)
            self._emit("layer_stats", self._record_json(sample, sample.params, root_extra))
        finally:
            for layer in self._layers:
                layer.reset()

    def close(self, final: bool = False) -> None:
        """Drops a sample in progress (its hooks stop watching); `final`: the model is no longer
        observed, every hook comes off."""
        self.stop_activations()
        if final:
            self._remove_hooks()
        self._sample = None
        for layer in self._layers:
            layer.reset()

    # ----- activations, on the device -----

    def _hook(self, layer: _Layer) -> Callable[[nn.Module, Any, Any], None]:
        # Called ~10-20 times per sampled step: the common case (a CPU float32 tensor) goes
        # straight to the kernel, without torch.no_grad() (the kernel builds no graph) or a
        # context manager; errors are contained as by Containment.capture.
        contain = self._containment.contain
        site = "layer_health.activations"

        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if not self._watching or not torch.is_grad_enabled():
                return
            try:
                tensor = output if type(output) is torch.Tensor else first_tensor(output)
                if tensor is None or tensor.numel() == 0:
                    return
                if _host_float32_dense(tensor):
                    self._accumulate(layer, tensor)
                elif tensor.is_floating_point():
                    with torch.no_grad():
                        self._accumulate(layer, tensor.detach())
            except Exception as error:
                contain(site, error)

        return hook

    def _accumulate(self, layer: _Layer, a: torch.Tensor) -> None:
        """Adds one output's per-unit sums to the layer's, in a few passes and without
        reshaping copies: per-unit sums reduce over every dimension but the unit's."""
        if _host_float32_dense(a):
            self._accumulate_host(layer, a)
            return
        a = a.float()
        if _host_float32_dense(a):
            self._accumulate_host(layer, a)
            return
        unit_dim = _unit_dim(a.dim(), layer.channel_first)
        if a.dim() < 2:
            a = a.reshape(1, -1)
        dims = tuple(d for d in range(a.dim()) if d != unit_dim)
        units = a.shape[unit_dim]
        unit_sum = a.sum(dims)
        # |a| equals a for outputs that are never negative, so their pass is saved.
        unit_abs = unit_sum if layer.non_negative else a.abs().sum(dims)
        # sign() is 1 where a > 0: clamped at 0 it counts active positions (a bool comparison
        # reduces several times slower on CPU).
        signs = torch.sign(a)
        active = (signs if layer.non_negative else signs.clamp_(min=0)).sum(dims)
        if layer.saturation == "tanh":
            saturated: torch.Tensor | None = (a.abs() > 0.99).sum(dims, dtype=torch.float32)
        elif layer.saturation == "sigmoid":
            saturated = ((a < 0.01) | (a > 0.99)).sum(dims, dtype=torch.float32)
        else:
            saturated = None
        if layer.unit_sum is None or layer.unit_abs is None or layer.unit_active is None:
            layer.unit_sum, layer.unit_abs, layer.unit_active = unit_sum, unit_abs, active
            layer.unit_sat = saturated
        elif layer.unit_sum.shape == unit_sum.shape:  # a shared module, called again
            layer.unit_sum = layer.unit_sum + unit_sum
            layer.unit_abs = layer.unit_abs + unit_abs
            layer.unit_active = layer.unit_active + active
            if saturated is not None and layer.unit_sat is not None:
                layer.unit_sat = layer.unit_sat + saturated
        else:
            return  # a call with another unit count (variable shapes): keep the first
        norm = torch.linalg.vector_norm(a)
        layer.norms.append(norm)
        layer.nonfinite.append(_nonfinite(a, norm))
        layer.elements += a.numel()
        layer.rows += a.numel() // units

    def _accumulate_host(self, layer: _Layer, a: torch.Tensor) -> None:
        """The CPU path of _accumulate: one pass of a C++ kernel over `a` (a CPU float32 tensor,
        which needs no detaching: the kernel only reads it)."""
        shape = a.shape
        if shape != layer.host_shape:
            layer.host_layout = _unit_layout(shape, layer.channel_first)
            layer.host_shape = shape
        units, inner = layer.host_layout
        size = 4 * units + 2
        if layer.host is None:
            buffer = layer.host_buffer
            if buffer is None or buffer.numel() != size:
                buffer = layer.host_buffer = torch.empty(size, dtype=torch.float64)
                layer.host_buffer_view = host_view(buffer)
            buffer.zero_()
            layer.host = buffer
        elif layer.host.numel() != size:
            return  # a call with another unit count (variable shapes): keep the first
        a = a.detach()  # (the hook runs without torch.no_grad: no copy may join the graph)
        if not a.is_contiguous():
            a = a.contiguous()
        _atlas.accumulate_units(
            host_view(a),
            units,
            inner,
            _SATURATION_CODE[layer.saturation],
            layer.host_buffer_view,
        )
        elements = a.numel()
        layer.elements += elements
        layer.rows += elements // units

    # ----- parameters, on the device -----

    def _reduce_params(self) -> _Params:
        grad_of: list[int] = []
        grads: list[torch.Tensor] = []
        for index, (_, param) in enumerate(self._flat):
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse:
                grad = grad.coalesce().values()
            grad_of.append(index)
            grads.append(grad)
        host = self._host_params_now()
        if host is not None and _host_float32(grads):
            return self._reduce_host_params(host, grad_of, grads)
        layer_of = [layer_index for layer_index, _ in self._flat]
        weights = [param.detach() for _, param in self._flat]
        grads = [grad.detach() for grad in grads]
        weight_norm = _norms(weights)
        weight_abs_tensors = [w.abs() for w in weights]
        grad_norm = _norms(grads)
        params = _Params(
            layer_of=layer_of,
            weight_norm=_stack(weight_norm),
            weight_abs=_stack([w.sum() for w in weight_abs_tensors]),
            weight_small=_stack(
                [torch.count_nonzero(w < _SPARSE_EPS).float() for w in weight_abs_tensors]
            ),
            weight_nonfinite=[_nonfinite(w, n) for w, n in zip(weights, weight_norm, strict=True)],
            grad_of=grad_of,
            grad_norm=_stack(grad_norm),
            grad_abs=_stack([g.abs().sum() for g in grads]),
            grad_nonfinite=[_nonfinite(g, n) for g, n in zip(grads, grad_norm, strict=True)],
            snapshot_of=self._snapshot(weights),
        )
        return params

    def _host_params_now(self) -> _HostParams | None:
        """The CPU path's views of the weights and their copies, when every watched weight is
        a CPU float32 contiguous tensor: kept from sample to sample, and made again when a
        parameter's storage changed (``param.data = ...``, ``module.to(...)``)."""
        params = [param for _, param in self._flat]
        host = self._host_params
        if host is not None and host.current(params):
            return host
        self._host_params = None
        if not _host_float32([param.detach() for param in params]):
            return None
        self._host_params = _HostParams(params, self._config.update_ratio_max_bytes)
        self._param_size = [param.numel() for param in params]
        return self._host_params

    def _reduce_host_params(
        self, host: _HostParams, grad_of: list[int], grads: list[torch.Tensor]
    ) -> _Params:
        """One pass of _atlas.tensor_stats over the weights (copying those the update ratio
        needs in the same pass) and one over the gradients."""
        view = host_view
        host_weight = torch.empty(4 * len(host.weights), dtype=torch.float64)
        host_grad = torch.empty(4 * len(grads), dtype=torch.float64)
        _atlas.tensor_stats(host.weights, view(host_weight), host.copy_into)
        if grads:
            # A gradient needs detaching only when it is part of a graph (create_graph=True).
            views = [view(g.detach() if g.requires_grad else g) for g in grads]
            _atlas.tensor_stats(views, view(host_grad))
        return _Params(
            self._param_layer,
            None,
            None,
            None,
            [],
            grad_of,
            None,
            None,
            [],
            snapshot_of=host.snapshot_of,
            host_weight=host_weight,
            host_grad=host_grad,
        )

    def _snapshot(self, weights: list[torch.Tensor]) -> list[int]:
        """Copies the weights into reused buffers, within update_ratio_max_bytes."""
        budget = self._config.update_ratio_max_bytes
        chosen: list[int] = []
        for index, weight in enumerate(weights):
            size = weight.numel() * weight.element_size()
            if size > budget:
                continue
            budget -= size
            buffer = self._buffers.get(index)
            if buffer is None or buffer.shape != weight.shape or buffer.dtype != weight.dtype:
                self._buffers[index] = torch.empty_like(weight)
            chosen.append(index)
        if chosen:
            torch._foreach_copy_([self._buffers[i] for i in chosen], [weights[i] for i in chosen])
        return chosen

    def _update_norms(self, params: _Params) -> None:
        if not params.snapshot_of:
            return
        if params.host_weight is not None:
            host = self._host_params
            if host is None or not host.current([param for _, param in self._flat]):
                # A parameter was replaced since collect(): its copy no longer compares.
                params.snapshot_of = []
                return
            squares = torch.empty(len(host.copies), dtype=torch.float64)
            _atlas.squared_distances(host.copied, host.copies, host_view(squares))
            params.update_sq = squares
            return
        weights = [self._flat[i][1].detach() for i in params.snapshot_of]
        before = [self._buffers[i] for i in params.snapshot_of]
        params.update_norm = _stack(_norms(list(torch._foreach_sub(weights, before))))

    # ----- to the host, once -----

    def _record_json(
        self, sample: _Sample, params: _Params, root_extra: dict[str, float] | None = None
    ) -> str:
        if params.host_weight is not None and params.host_grad is not None:
            if all(layer.unit_sum is None for layer in self._layers):
                return self._host_record_json(sample, params, root_extra)
            _expand_host(params)
        max_units = self._config.layer_health_max_units
        transfer = _Transfer()
        for index, layer in enumerate(self._layers):
            if layer.host is not None:
                _unpack_host(layer)
            if layer.unit_sum is None or layer.unit_abs is None or layer.unit_active is None:
                continue
            transfer.add(("norm", index), torch.stack(layer.norms))
            transfer.add_numbers(("nonfinite", index), layer.nonfinite)
            units = layer.unit_sum.numel()
            if units > max_units:
                # Too many units to ship: the layer-wide figures are reduced here instead.
                totals = _unit_totals(
                    layer.unit_sum, layer.unit_abs, layer.unit_active, layer, self._config
                )
                transfer.add(("totals", index), totals)
            transfer.add(("unit_sum", index), layer.unit_sum[:max_units])
            transfer.add(("unit_abs", index), layer.unit_abs[:max_units])
            transfer.add(("unit_active", index), layer.unit_active[:max_units])
            if layer.unit_sat is not None:
                transfer.add(("unit_sat", index), layer.unit_sat[:max_units])
        for name in ("weight_norm", "weight_abs", "weight_small", "grad_norm", "grad_abs"):
            values: torch.Tensor | None = getattr(params, name)
            if values is not None:
                transfer.add((name, -1), values)
        transfer.add_numbers(("weight_nonfinite", -1), params.weight_nonfinite)
        transfer.add_numbers(("grad_nonfinite", -1), params.grad_nonfinite)
        if params.update_norm is not None:
            transfer.add(("update_norm", -1), params.update_norm)
        host = transfer.to_host()
        # Short series become lists (per-layer Python arithmetic); per-unit arrays stay tensors
        # that layer_stats_json writes.
        lists = {
            key: value.tolist() for key, value in host.items() if not key[0].startswith("unit")
        }
        entries = [
            self._activation_entry(i, layer, host, lists) for i, layer in enumerate(self._layers)
        ]
        sizes = [param.numel() for _, param in self._flat]
        _add_param_entries(entries, len(self._layers), sizes, params, lists)
        layers = [
            (
                layer.name,
                list(fields.items()),
                list(extra.items()),
                [(key, host_view(values), scale) for key, values, scale in arrays],
            )
            for layer, (fields, extra, arrays) in zip(self._layers, entries, strict=True)
            if fields or extra or arrays
        ]
        if root_extra:
            _add_root_extra(layers, root_extra)
        return _atlas.layer_stats_json(sample.step, sample.epoch, time.time(), layers)

    def _host_record_json(
        self, sample: _Sample, params: _Params, root_extra: dict[str, float] | None
    ) -> str:
        """The CPU path's record: every figure derived and written by one C++ call from the
        kernels' float64 accumulators (no transfer, no per-layer Python)."""
        view = host_view
        empty = _EMPTY
        layers = [
            (
                layer.name,
                layer.host_buffer_view if layer.host is not None else None,
                layer.rows,
                layer.elements,
                layer.saturation is not None,
            )
            for layer in self._layers
        ]
        host_weight = params.host_weight if params.host_weight is not None else empty
        host_grad = params.host_grad if params.host_grad is not None else empty
        update_sq = params.update_sq
        return _atlas.host_layer_stats_json(
            sample.step,
            sample.epoch,
            time.time(),
            layers,
            self._param_layer,
            self._param_size,
            view(host_weight),
            params.grad_of,
            view(host_grad),
            params.snapshot_of if update_sq is not None else [],
            view(update_sq if update_sq is not None else empty),
            self._config.dormant_threshold,
            self._config.layer_health_max_units,
            list(root_extra.items()) if root_extra else [],
        )

    def _activation_entry(
        self,
        index: int,
        layer: _Layer,
        host: dict[tuple[str, int], torch.Tensor],
        lists: dict[tuple[str, int], list[float]],
    ) -> _Entry:
        entry: dict[str, float] = {}
        extra: dict[str, float] = {}
        arrays: list[tuple[str, torch.Tensor, float]] = []
        unit_sum = host.get(("unit_sum", index))
        if unit_sum is None or not layer.elements or not layer.rows:
            return entry, extra, arrays
        unit_abs = host[("unit_abs", index)]
        unit_active = host[("unit_active", index)]
        unit_sat = host.get(("unit_sat", index))
        rows, elements = float(layer.rows), float(layer.elements)
        totals = lists.get(("totals", index))
        if totals is None:
            abs_list = unit_abs.tolist()
            units = len(abs_list)
            total, absolute = sum(unit_sum.tolist()), sum(abs_list)
            dead = float(unit_active.tolist().count(0.0))
            mean_abs = absolute / rows / units if units else 0.0
            threshold = self._config.dormant_threshold
            if mean_abs > 0:
                dormant = float(sum(1 for a in abs_list if a / rows / mean_abs <= threshold))
            else:
                dormant = float(units) if threshold >= 0 else 0.0
            saturated = sum(unit_sat.tolist()) if unit_sat is not None else 0.0
        else:
            total, absolute, dead, dormant, saturated, units_f, mean_abs = totals
            units = int(units_f)
        squares = sum(n * n for n in lists[("norm", index)])
        mean = total / elements
        entry["activation_mean"] = mean
        entry["activation_std"] = math.sqrt(max(squares / elements - mean * mean, 0.0))
        entry["activation_abs_mean"] = absolute / elements
        entry["nonfinite_activations"] = sum(lists[("nonfinite", index)])
        if layer.saturation is not None:
            entry["saturated_fraction"] = saturated / elements
        entry["dead_fraction"] = dead / units if units else 0.0
        extra["dormant_fraction"] = dormant / units if units else 0.0
        extra["dormant_threshold"] = self._config.dormant_threshold
        extra["units"] = units
        # Fractions and scores are the shipped sums times one factor, applied while writing.
        arrays.append(("unit_active_frac", unit_active, 1.0 / rows))
        arrays.append(("unit_score", unit_abs, 1.0 / rows / mean_abs if mean_abs > 0 else 0.0))
        if unit_sat is not None:
            arrays.append(("unit_saturated_frac", unit_sat, 1.0 / rows))
        return entry, extra, arrays


# A layer's entry being built: its fields, its extra fields and its extra per-unit arrays as
# (key, float64 values, factor), the arguments of _atlas.layer_stats_json.
_Entry = tuple[dict[str, float], dict[str, float], list[tuple[str, torch.Tensor, float]]]


def _add_root_extra(layers: list[Any], root_extra: dict[str, float]) -> None:
    """Adds `root_extra` to the root entry's extra fields, first in the record when the root has
    no entry of its own (a container is not watched)."""
    for name, _, extra, _ in layers:
        if name == "":
            extra.extend(root_extra.items())
            return
    layers.insert(0, ("", [], list(root_extra.items()), []))


def _unpack_host(layer: _Layer) -> None:
    """Exposes the CPU accumulator as the device path's per-unit sums, norms and counts."""
    host = layer.host
    if host is None:
        return
    units = (host.numel() - 2) // 4
    layer.unit_sum = host[:units]
    layer.unit_abs = host[units : 2 * units]
    layer.unit_active = host[2 * units : 3 * units]
    layer.unit_sat = host[3 * units : 4 * units] if layer.saturation is not None else None
    layer.norms = [host[4 * units].sqrt()]
    layer.nonfinite = [float(host[4 * units + 1])]


class _HostParams:
    """The CPU path's views (see host_view.py) of the watched weights, and of the copies the
    update ratio compares them with, made once rather than at every sample: a view shares its
    tensor's memory, so it reads the weights as the optimizer updates them in place. Valid
    while every parameter keeps its storage and shape (checked by `current`)."""

    def __init__(self, params: list[nn.Parameter], budget: int) -> None:
        weights = [param.detach() for param in params]
        self._identity = [(param.data_ptr(), param.shape) for param in params]
        self.weights = host_views(weights)
        # Copies within update_ratio_max_bytes, in parameter order (as _snapshot chooses).
        self.snapshot_of: list[int] = []
        copies: list[torch.Tensor] = []
        for index, weight in enumerate(weights):
            size = weight.numel() * weight.element_size()
            if size <= budget:
                budget -= size
                self.snapshot_of.append(index)
                copies.append(torch.empty_like(weight))
        self.copies = host_views(copies)
        self.copied = [self.weights[i] for i in self.snapshot_of]
        # tensor_stats' `copies`: per weight, the view its values are copied into, or None.
        copy_of = dict(zip(self.snapshot_of, self.copies, strict=True))
        self.copy_into = [copy_of.get(i) for i in range(len(weights))]

    def current(self, params: list[nn.Parameter]) -> bool:
        """Whether the views still show `params` (same storage, same shape)."""
        identity = self._identity
        if len(params) != len(identity):
            return False
        for param, (pointer, shape) in zip(params, identity, strict=True):
            if param.data_ptr() != pointer or param.shape != shape:
                return False
        return True


def _unit_dim(dims: int, channel_first: bool) -> int:
    """The dimension of an output's units (see the module docstring); outputs of fewer than two
    dimensions are taken as one row of units."""
    if dims >= 3 and channel_first:
        return 1
    return dims - 1 if dims >= 2 else 1


def _unit_layout(shape: torch.Size, channel_first: bool) -> tuple[int, int]:
    """(units, inner) of an output of `shape` for _atlas.accumulate_units: the unit count and
    the number of contiguous values of one unit in a row (1 when units are the last dimension)."""
    if len(shape) < 2:
        return math.prod(shape), 1
    unit_dim = _unit_dim(len(shape), channel_first)
    return shape[unit_dim], math.prod(shape[unit_dim + 1 :])


def _host_float32_dense(t: torch.Tensor) -> bool:
    """Whether _accumulate_host takes `t`: a CPU float32 strided tensor (it copies a
    non-contiguous one first)."""
    return t.dtype is torch.float32 and t.layout is torch.strided and _on_host(t)


def _on_host(t: torch.Tensor) -> bool:
    """Whether `t` takes the C++ kernels (CPU): the one switch between the two paths."""
    return t.is_cpu


def _host_float32(tensors: list[torch.Tensor]) -> bool:
    """Whether the C++ kernels can read `tensors` in place: CPU, float32, contiguous, dense."""
    return all(
        t.dtype is torch.float32 and t.layout is torch.strided and _on_host(t) and t.is_contiguous()
        for t in tensors
    )


# A float64 tensor with no values, for the arrays of a sample that has none.
_EMPTY = torch.empty(0, dtype=torch.float64)


def _expand_host(params: _Params) -> None:
    """Derives the device path's per-tensor figures from the CPU path's raw ones (for a record
    that _Transfer builds after all: a sample whose activations took the torch path)."""
    for prefix, raw in (("weight", params.host_weight), ("grad", params.host_grad)):
        if raw is None or raw.numel() == 0:
            continue
        stats = raw.view(-1, 4)
        setattr(params, f"{prefix}_norm", stats[:, 0].sqrt())
        setattr(params, f"{prefix}_abs", stats[:, 1])
        if prefix == "weight":
            params.weight_small = stats[:, 2]
        setattr(params, f"{prefix}_nonfinite", list(stats[:, 3].tolist()))
    if params.update_sq is not None:
        params.update_norm = params.update_sq.sqrt()


def _stack(values: list[torch.Tensor]) -> torch.Tensor | None:
    return torch.stack(values) if values else None


def _add_param_entries(
    entries: list[_Entry],
    count: int,
    sizes: list[int],
    params: _Params,
    host: dict[tuple[str, int], list[float]],
) -> None:
    """Adds weight, gradient and update figures to each layer's entry (`sizes`: the number of
    elements of each watched parameter)."""
    weight_sq = [0.0] * count
    weight_abs = [0.0] * count
    weight_small = [0.0] * count
    weight_bad = [0.0] * count
    weight_n = [0] * count
    for i, layer_index in enumerate(params.layer_of):
        weight_sq[layer_index] += host[("weight_norm", -1)][i] ** 2
        weight_abs[layer_index] += host[("weight_abs", -1)][i]
        weight_small[layer_index] += host[("weight_small", -1)][i]
        weight_bad[layer_index] += host[("weight_nonfinite", -1)][i]
        weight_n[layer_index] += sizes[i]
    update_sq = [0.0] * count
    updated = [False] * count
    for i, param_index in enumerate(params.snapshot_of):
        layer_index = params.layer_of[param_index]
        update_sq[layer_index] += host[("update_norm", -1)][i] ** 2
        updated[layer_index] = True
    grad_sq = [0.0] * count
    grad_abs = [0.0] * count
    grad_bad = [0.0] * count
    grad_n = [0] * count
    for i, param_index in enumerate(params.grad_of):
        layer_index = params.layer_of[param_index]
        grad_sq[layer_index] += host[("grad_norm", -1)][i] ** 2
        grad_abs[layer_index] += host[("grad_abs", -1)][i]
        grad_bad[layer_index] += host[("grad_nonfinite", -1)][i]
        grad_n[layer_index] += sizes[param_index]
    for layer_index, (entry, _, _) in enumerate(entries):
        if weight_n[layer_index]:
            entry["weight_norm"] = math.sqrt(weight_sq[layer_index])
            entry["weight_abs_mean"] = weight_abs[layer_index] / weight_n[layer_index]
            entry["weight_sparsity"] = weight_small[layer_index] / weight_n[layer_index]
            entry["nonfinite_weights"] = weight_bad[layer_index]
            if updated[layer_index] and weight_sq[layer_index] > 0:
                entry["update_ratio"] = math.sqrt(update_sq[layer_index] / weight_sq[layer_index])
        if grad_n[layer_index]:
            entry["grad_norm"] = math.sqrt(grad_sq[layer_index])
            entry["grad_abs_mean"] = grad_abs[layer_index] / grad_n[layer_index]
            entry["nonfinite_grads"] = grad_bad[layer_index]


class _Transfer:
    """Gathers the sample's device tensors for one copy to the host (per device)."""

    def __init__(self) -> None:
        self._parts: list[tuple[tuple[str, int], torch.Tensor]] = []
        self._numbers: dict[tuple[str, int], list[float]] = {}
        self._mixed: list[tuple[tuple[str, int], list[torch.Tensor | float]]] = []

    def add(self, key: tuple[str, int], tensor: torch.Tensor) -> None:
        self._parts.append((key, tensor.reshape(-1)))

    def add_numbers(self, key: tuple[str, int], values: list[torch.Tensor | float]) -> None:
        """Values that are host numbers already (CPU checks) or device scalars (CUDA)."""
        if all(isinstance(v, float) for v in values):
            self._numbers[key] = [float(v) for v in values]
        else:
            self._mixed.append((key, values))

    def to_host(self) -> dict[tuple[str, int], torch.Tensor]:
        """Every part as a float64 CPU tensor (slices of one transfer per device)."""
        for key, values in self._mixed:
            tensors = [v if isinstance(v, torch.Tensor) else torch.tensor(v) for v in values]
            device = next(t.device for t in tensors if isinstance(t, torch.Tensor))
            self._parts.append((key, torch.stack([t.to(device) for t in tensors]).reshape(-1)))
        out = {
            key: torch.tensor(values, dtype=torch.float64) for key, values in self._numbers.items()
        }
        if not self._parts:
            return out
        by_device: dict[torch.device, list[tuple[tuple[str, int], torch.Tensor]]] = {}
        for key, tensor in self._parts:
            by_device.setdefault(tensor.device, []).append((key, tensor))
        for parts in by_device.values():
            # The empty float64 tensor makes torch.cat promote every part to float64.
            tensors = [torch.empty(0, dtype=torch.float64, device=parts[0][1].device)]
            tensors += [tensor for _, tensor in parts]
            flat = torch.cat(tensors).cpu()
            position = 0
            for key, tensor in parts:
                out[key] = flat[position : position + tensor.numel()]
                position += tensor.numel()
        return out


def _unit_totals(
    unit_sum: torch.Tensor,
    unit_abs: torch.Tensor,
    unit_active: torch.Tensor,
    layer: _Layer,
    config: ObserverConfig,
) -> torch.Tensor:
    """Layer-wide figures of a layer with more units than its record ships, on the device:
    [sum, sum |a|, dead units, dormant units, saturated, units, mean of unit mean |a|]."""
    rows = float(max(layer.rows, 1))
    unit_mean_abs = unit_abs / rows
    mean_abs = unit_mean_abs.mean()
    score = unit_mean_abs / mean_abs.clamp_min(1e-30)
    saturated = layer.unit_sat.sum() if layer.unit_sat is not None else mean_abs.new_zeros(())
    return torch.stack(
        [
            unit_sum.sum(),
            unit_abs.sum(),
            torch.count_nonzero(unit_active == 0).float(),
            torch.count_nonzero(score <= config.dormant_threshold).float(),
            saturated,
            mean_abs.new_tensor(float(unit_sum.numel())),
            mean_abs,
        ]
    )


def _norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The L2 norm of each tensor, in one call (in float32 at least, so half-precision weights
    do not overflow)."""
    if not tensors:
        return []
    widened = [t if t.dtype in (torch.float32, torch.float64) else t.float() for t in tensors]
    return list(torch._foreach_norm(widened))


def _nonfinite(t: torch.Tensor, norm: torch.Tensor) -> torch.Tensor | float:
    """How many values of `t` are NaN or infinite. The norm is finite exactly when all are, so
    on the CPU (where reading it costs nothing) the counting pass runs only when needed; on
    other devices reading it would synchronise, so the pass always runs there. 0 * x is NaN
    exactly where x is not finite, and counting non-zeros is faster than reducing booleans."""
    if t.device.type == "cpu":
        if math.isfinite(float(norm)):
            return 0.0
        return float(torch.count_nonzero(t * 0))
    return torch.count_nonzero(t * 0)
