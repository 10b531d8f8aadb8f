"""Apply a LoRA-adapted projection without a weight gradient for its frozen kernel.

Keras' `EinsumDense` with LoRA enabled merges the adapters into the kernel on
every call (`K + s·A@B`) and then multiplies. Differentiating that costs a full
kernel-sized gradient `xᵀ·dy` per adapted layer, the same work as training the
kernel itself, only to project it down onto A and B. Computing `x·K + s·(x·A)·B`
instead gives the adapters their gradients from rank-sized products, and the
frozen kernel only passes the activation gradient through. With every
projection adapted this halves the decoder's backward pass.
"""

from __future__ import annotations

from keras import ops


def _factored(layer) -> bool:
    """True when `x·A` can use the layer's own equation: LoRA on a plain float kernel whose last
    axis is the output's last axis, with no bias or activation to apply in between."""
    if not getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        return False
    inputs, output = layer.equation.split("->")
    kernel_axes = inputs.split(",")[1]
    linear = getattr(layer.activation, "__name__", "") == "linear"
    return kernel_axes[-1] == output[-1] and layer.bias is None and linear


def project(layer, x):
    """`layer(x)`, with LoRA (if enabled) applied as `x·K + s·(x·A)·B`."""
    if not _factored(layer):
        return layer(x)
    dtype = x.dtype
    scale = layer.lora_alpha / layer.lora_rank
    base = ops.einsum(layer.equation, x, ops.cast(layer._kernel, dtype))
    low_rank = ops.einsum(layer.equation, x, ops.cast(layer.lora_kernel_a, dtype))
    return base + ops.matmul(low_rank, ops.cast(layer.lora_kernel_b, dtype)) * ops.cast(scale, dtype)
