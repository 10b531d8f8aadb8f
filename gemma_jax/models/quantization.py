"""QLoRA's frozen base: the decoder blocks' projections quantized with Keras' own quantizers.

Keras 3.15's `EinsumDense.quantize` stores int8 kernels (one scale per output
channel) or int4 kernels packed two to a byte (asymmetric, one scale and zero
point per block of `INT4_BLOCK_SIZE` input rows), and `enable_lora` adds f32
A/B factors on top: the layer then computes `base(x) + alpha/rank * (x A) B`.
Only the seven projections of every decoder block are quantized. The token
embedding stays in the compute dtype: it is also the tied output head, which the
chunked loss reads as a matrix, and most of it is touched by every step.

Quantization is weight-only: activations stay in the compute dtype (Keras'
int8 default would also quantize the inputs of every matmul, adding noise
to the trained path for no memory saving).
"""

from __future__ import annotations

import contextlib
import gc

import jax.numpy as jnp
import keras
import numpy as np

from gemma_jax.compat import keras as keras_compat

QUANTIZATION_MODES = ("int8", "int4")
INT4_BLOCK_SIZE = 128  # input rows per int4 scale/zero point (Keras' default)


def _quantization_config(mode: str) -> keras.quantizers.QuantizationConfig:
    if mode == "int8":
        return keras.quantizers.Int8QuantizationConfig(activation_quantizer=None)
    if mode == "int4":
        return keras.quantizers.Int4QuantizationConfig(activation_quantizer=None, block_size=INT4_BLOCK_SIZE)
    raise ValueError(f"unknown quantization {mode!r}; use one of {' | '.join(QUANTIZATION_MODES)}")


def block_projections(backbone: keras.Model) -> list[keras.layers.EinsumDense]:
    """Every EinsumDense inside the decoder blocks (query/key/value/output and feed-forward)."""
    return [
        layer
        for block in backbone.transformer_layers
        for layer in keras_compat.sublayers(block, include_self=False)
        if isinstance(layer, keras.layers.EinsumDense)
    ]


@contextlib.contextmanager
def _one_garbage_collection():
    """Keras runs gc.collect() every time a layer drops its float kernel (0.5 s each in a
    process holding JAX and Keras-Hub, a minute for a 270M model); collect once at the end."""
    collect = gc.collect
    gc.collect = lambda generation=2: 0
    try:
        yield
    finally:
        gc.collect = collect
        gc.collect()


def quantize_base(backbone: keras.Model, mode: str) -> int:
    """Quantize the decoder-block projections to `mode` in place, before LoRA; returns how many."""
    config = _quantization_config(mode)
    layers = block_projections(backbone)
    for layer in layers:
        if layer.quantization_mode is not None:
            raise ValueError(f"{layer.path} is already quantized ({layer.quantization_mode}); load the model again")
        if getattr(layer, "lora_enabled", False):
            raise ValueError(f"{layer.path} already has LoRA; quantize the base before enabling LoRA")
    with _one_garbage_collection():
        for layer in layers:
            layer.quantize(mode, config=config)
    return len(layers)


def quantization_mode(backbone: keras.Model) -> str | None:
    """The mode of the quantized projections, or None for a float backbone."""
    modes = {layer.quantization_mode for layer in block_projections(backbone)}
    if len(modes) > 1:
        raise ValueError(f"the backbone mixes quantization modes {sorted(map(str, modes))}")
    return modes.pop() if modes else None


def dequantized_kernel(layer: keras.layers.EinsumDense) -> np.ndarray:
    """The layer's base kernel (without LoRA) in float32, in its original shape.

    The same arithmetic as the layer's quantized forward pass (Keras 3.15), so a
    float model built from it computes what the quantized one does.
    """
    return keras_compat.dequantized_kernel(layer)


def weight_bytes(variables) -> int:
    """Bytes the given variables occupy (int4 kernels count as stored: packed, half a byte each)."""
    return sum(int(np.prod(v.shape)) * jnp.dtype(v.dtype).itemsize for v in variables)
