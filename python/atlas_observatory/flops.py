"""Forward FLOPs of modules, by formula, for what torch's FlopCounterMode does not count.

FlopCounterMode (torch.utils.flop_counter) counts matrix products, convolutions and attention
exactly from the operators that run. Normalisation, activations, pooling and embeddings it leaves
at zero; for those, and for everything when FlopCounterMode is unavailable, these formulas apply.
A multiply-add counts as 2 FLOPs, as in FlopCounterMode. ``out`` is the number of elements of the
module's output, ``in`` of its first input, for the whole batch:

=====================================  ===================================================
Linear(in_f, out_f)                    2 * in_f * out
ConvNd(c_in, ..., kernel k, groups g)  2 * (c_in / g) * prod(k) * out
MultiheadAttention(E, heads), L x S    2 * N * (L*E*E + 2*S*E*E_kv + L*E*E) + 4 * N * L * S * E
                                       (q/k/v and output projections, scores and weighted sum)
LayerNorm, BatchNorm, GroupNorm, RMS   5 * out (mean, variance, normalise, scale, shift)
ReLU, GELU, SiLU, Tanh, Sigmoid, ...   1 * out
MaxPool/AvgPool (kernel k)             prod(k) * out
AdaptiveAvg/MaxPool                    in
Embedding, Dropout, Flatten, Identity  0 (no arithmetic)
=====================================  ===================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

__all__ = ["COUNTED_BY_FLOP_COUNTER", "formula_flops"]

Shape = Sequence[int]

# Module types whose FLOPs FlopCounterMode counts from their operators (matmul, conv, sdpa).
COUNTED_BY_FLOP_COUNTER: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.MultiheadAttention,
)

_NORMS: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)

_ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.Softmax,
    nn.LogSoftmax,
)

_POOLS: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
)

_ADAPTIVE_POOLS: tuple[type[nn.Module], ...] = (
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)


def _numel(shape: Shape | None) -> int:
    return math.prod(shape) if shape else 0


def _attention_flops(module: nn.MultiheadAttention, inputs: Sequence[Shape]) -> float:
    if len(inputs) < 2 or len(inputs[0]) != 3:
        return 0.0
    query, key = inputs[0], inputs[1]
    if module.batch_first:
        n, length, embed = query
        source = key[1]
    else:
        length, n, embed = query
        source = key[0]
    kv_dim = module.kdim
    projections = 2 * n * (length * embed * embed + 2 * source * kv_dim * embed + length * embed**2)
    attention = 4 * n * length * source * embed
    return float(projections + attention)


def formula_flops(module: nn.Module, inputs: Sequence[Shape], output: Shape | None) -> float:
    """The forward FLOPs of one call of `module` on the whole batch (see the module table)."""
    out = _numel(output)
    if isinstance(module, nn.Linear):
        return 2.0 * module.in_features * out
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = math.prod(module.kernel_size)
        return 2.0 * (module.in_channels / module.groups) * kernel * out
    if isinstance(module, nn.MultiheadAttention):
        return _attention_flops(module, inputs)
    if isinstance(module, _NORMS):
        return 5.0 * out
    if isinstance(module, _ELEMENTWISE):
        return 1.0 * out
    if isinstance(module, _POOLS):
        pool_kernel: Any = module.kernel_size
        spatial = max(len(output or ()) - 2, 1)
        if isinstance(pool_kernel, tuple):
            size = math.prod(pool_kernel)
        else:
            size = int(pool_kernel) ** spatial
        return float(size * out)
    if isinstance(module, _ADAPTIVE_POOLS):
        return float(_numel(inputs[0]) if inputs else 0)
    return 0.0
