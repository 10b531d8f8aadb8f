"""Keras private APIs gemma-jax relies on, each behind one function (Keras 3.15).

Keras is imported inside the functions: callers that import Keras lazily (the
GGUF and Hugging Face loaders) keep doing so. tests/compat/test_private_reaches.py
guards every function here; setup.cfg bounds Keras below its next minor release.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

_INIT_PATCH_LOCK = threading.RLock()  # one patch of keras.Variable at a time
_SEED_SWAP_LOCK = threading.RLock()  # one private default-seed generator at a time


def sublayers(layer: keras.layers.Layer, include_self: bool = True) -> list[keras.layers.Layer]:
    """Every layer nested in `layer` (recursively, each once), `layer` first when `include_self`.

    Private: `Layer._flatten_layers(include_self, recursive=True)`. Keras' public
    `Model.layers` lists direct children only and plain layers have no public
    walk at all; the decoder blocks' projections sit two levels down.
    """
    return layer._flatten_layers(include_self=include_self, recursive=True)


def stored_kernel(layer: keras.layers.EinsumDense) -> keras.Variable:
    """The kernel variable `layer` stores: without LoRA, int8/int4-packed when quantized.

    Private: `EinsumDense._kernel`. The public `kernel` property returns a new
    tensor (`_kernel + alpha/rank·A@B` with LoRA, unpacked with int4), so it
    cannot be assigned and costs a kernel-sized sum; the variable is the only
    handle on the frozen base weights.
    """
    return layer._kernel


def dequantized_kernel(layer: keras.layers.EinsumDense) -> np.ndarray:
    """`layer`'s base kernel (without LoRA) in float32 and its original shape, for float, int8 and int4.

    The arithmetic of the layer's own quantized forward pass, so a float model
    built from it computes what the quantized one does. Private: int8 reads
    `EinsumDense._adjust_scale_for_dequant` (the scale's layout depends on the
    equation, which only that method undoes); int4 reads `_int4_unpacked_column_size`
    and `_int4_block_size` (the packed layout) and the grouped dequantizer
    `keras.src.quantizers.quantizers.dequantize_with_sz_map`. Keras has no public
    "dequantize this layer": `kernel` with LoRA enabled includes the adapters.
    """
    from keras import ops, quantizers

    mode = layer.quantization_mode
    kernel = stored_kernel(layer)
    if mode is None:
        return np.array(ops.convert_to_numpy(kernel.value), np.float32)
    if mode == "int8":
        scale = layer._adjust_scale_for_dequant(ops.cast(layer.kernel_scale, "float32"))
        value = ops.divide(ops.cast(kernel, "float32"), scale)
    elif mode == "int4":
        from keras.src.quantizers.quantizers import dequantize_with_sz_map

        unpacked = ops.cast(quantizers.unpack_int4(kernel, layer._int4_unpacked_column_size, axis=-1), "float32")
        scale = ops.cast(layer.kernel_scale, "float32")
        if getattr(layer, "_int4_block_size", None) in (None, -1):
            value = ops.divide(unpacked, scale)
        else:
            value = dequantize_with_sz_map(unpacked, scale, layer.kernel_zero, layer.g_idx, group_axis=0)
        value = ops.reshape(value, layer.original_kernel_shape)
    else:
        raise ValueError(f"{layer.path}: cannot dequantize a {mode!r} kernel; only int8 and int4 are supported")
    return np.asarray(ops.convert_to_numpy(value), np.float32)


@contextlib.contextmanager
def default_seeds_from(generator: random.Random) -> Iterator[None]:
    """Inside the block, Keras draws the seed of every unseeded initializer from `generator`.

    Private: the module global `keras.src.random.seed_generator.python_random`
    that `make_default_seed` draws from. The public `keras.utils.set_random_seed`
    only reseeds Python's shared `random`, which other threads draw from too.
    """
    from keras.src.random import seed_generator

    with _SEED_SWAP_LOCK:
        shared = seed_generator.python_random
        seed_generator.python_random = generator
        try:
            yield
        finally:
            seed_generator.python_random = shared


def zeros_hook_available() -> bool:
    """True when `variables_start_as_zeros` can take effect: the JAX backend and the Variable hooks it patches."""
    import keras

    return keras.backend.backend() == "jax" and all(
        callable(getattr(keras.Variable, name, None)) for name in ("_initialize", "_initialize_with_initializer")
    )


def _zeros_initialize(variable, initializer) -> None:
    import jax
    import jax.numpy as jnp

    variable._initialize(jax.device_put(np.zeros(variable._shape, dtype=jnp.dtype(variable._dtype))))


@contextlib.contextmanager
def variables_start_as_zeros() -> Iterator[None]:
    """Keras variables created inside the block are zeros; their initializers never run.

    Private: replaces `keras.Variable._initialize_with_initializer` and calls
    `Variable._initialize` with `_shape`/`_dtype`. Layers create their variables
    in `build` with their own initializers, and Keras has no public switch to skip
    them. Does nothing on another backend or a Keras without those hooks (loading
    is then only slower). Variables created by other threads meanwhile are zeros too.
    """
    import keras

    if not zeros_hook_available():
        yield
        return
    cls = keras.Variable
    with _INIT_PATCH_LOCK:
        had_own = "_initialize_with_initializer" in cls.__dict__
        previous = cls.__dict__.get("_initialize_with_initializer")
        cls._initialize_with_initializer = _zeros_initialize
        try:
            yield
        finally:
            if had_own:
                cls._initialize_with_initializer = previous
            else:
                del cls._initialize_with_initializer
