"""Build Keras-Hub backbones without running their random initializers (every weight is set right after)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np

_INIT_PATCH_LOCK = threading.RLock()


def _zeros_initialize(variable, initializer) -> None:
    import jax
    import jax.numpy as jnp

    variable._initialize(jax.device_put(np.zeros(variable._shape, dtype=jnp.dtype(variable._dtype))))


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    """Create Keras variables as zeros instead of running their initializers, for
    models whose every weight is overwritten right after (from a GGUF or a preset).

    On the JAX backend each random initializer compiles an XLA kernel per
    shape: building Gemma3Backbone that way takes ~10 s on a small CPU, with
    zeros ~1-2 s. Patches a private Keras hook (`Variable._initialize_with_initializer`)
    while the block runs; with another backend, or a Keras without that hook,
    it does nothing. Variables created by other threads meanwhile are zeros too.
    """
    import keras

    cls = keras.Variable
    if keras.backend.backend() != "jax" or not all(
        callable(getattr(cls, name, None)) for name in ("_initialize", "_initialize_with_initializer")
    ):
        yield
        return
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
