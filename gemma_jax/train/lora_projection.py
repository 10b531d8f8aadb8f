"""Apply a LoRA-adapted projection without a weight gradient for its frozen kernel.

Keras' `EinsumDense` with LoRA enabled merges the adapters into the kernel on
every call (`K + s·A@B`) and then multiplies. Differentiating that costs a full
kernel-sized gradient `xᵀ·dy` per adapted layer, the same work as training the
kernel itself, only to project it down onto A and B. Computing `x·K + s·(x·A)·B`
instead gives the adapters their gradients from rank-sized products, and the
frozen kernel only passes the activation gradient through. With every
projection adapted this halves the decoder's backward pass.

The frozen product `x·K` takes bf16 operands with float32 accumulation when the
compute dtype is bf16 (`mixed_einsum.py`).

LoRA dropout (training only) drops entries of the adapters' input: `x·K + s·(drop(x)·A)·B`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
from keras import ops

from gemma_jax.compat.keras import stored_kernel
from gemma_jax.train.mixed_einsum import projection_einsum


@dataclass(frozen=True)
class LoraDropout:
    """Inverted dropout at `rate` with its own random key; `at(i)` gives an independent one."""

    rate: float
    key: jax.Array

    def at(self, index: int) -> LoraDropout:
        return LoraDropout(self.rate, jax.random.fold_in(self.key, index))

    def __call__(self, x):
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.key, keep, x.shape)
        return ops.where(mask, x / ops.cast(keep, x.dtype), ops.zeros_like(x))


def _low_rank_ready(layer) -> bool:
    """True when `s·(x·A)·B` is the whole adapter term: LoRA whose kernel's last axis is the
    output's last axis, with no bias or activation to apply in between."""
    if not getattr(layer, "lora_enabled", False):
        return False
    inputs, output = layer.equation.split("->")
    kernel_axes = inputs.split(",")[1]
    linear = getattr(layer.activation, "__name__", "") == "linear"
    return kernel_axes[-1] == output[-1] and layer.bias is None and linear


def _plain(layer) -> bool:
    """True when `layer(x)` is `einsum(equation, x, K)` alone: a float kernel, no bias, no activation."""
    linear = getattr(layer.activation, "__name__", "") == "linear"
    return linear and layer.bias is None and not getattr(layer, "quantization_mode", None)


def _factored(layer) -> bool:
    """True when `x·K` can use the layer's own equation on a plain float kernel."""
    return _low_rank_ready(layer) and not getattr(layer, "quantization_mode", None)


def _low_rank(layer, x):
    dtype = x.dtype
    scale = layer.lora_alpha / layer.lora_rank
    low_rank = ops.einsum(layer.equation, x, ops.cast(layer.lora_kernel_a, dtype))
    return ops.matmul(low_rank, ops.cast(layer.lora_kernel_b, dtype)) * ops.cast(scale, dtype)


def project(layer, x, dropout: LoraDropout | None = None, out_dtype=None):
    """`layer(x)`, with LoRA (if enabled) applied as `x·K + s·(x·A)·B`, its input dropped by `dropout`;
    as `out_dtype` when given (float32: the frozen product's sums are not rounded to x's dtype)."""
    lora = getattr(layer, "lora_enabled", False)
    if _factored(layer) or (not lora and _plain(layer)):  # x·K as our dot, frozen or under an adapter
        base = projection_einsum(layer.equation, x, stored_kernel(layer), out_dtype=out_dtype)
        return base + _low_rank(layer, x if dropout is None else dropout(x)) if lora else base
    y = layer(x)
    if dropout is not None and _low_rank_ready(layer):  # a quantized base: swap x for drop(x) in the adapter
        y = y + _low_rank(layer, dropout(x) - x)
    return y if out_dtype is None else y.astype(out_dtype)
