"""Build Keras-Hub backbones without running their random initializers (every weight is set right after)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gemma_jax.compat.keras import variables_start_as_zeros


@contextlib.contextmanager
def skip_random_init() -> Iterator[None]:
    """Create Keras variables as zeros instead of running their initializers, for
    models whose every weight is overwritten right after (from a GGUF or a preset).

    On the JAX backend each random initializer compiles an XLA kernel per
    shape: building Gemma3Backbone that way takes ~10 s on a small CPU, with
    zeros ~1-2 s. Patches a private Keras hook while the block runs
    (compat.keras.variables_start_as_zeros); with another backend, or a Keras
    without that hook, it does nothing. Variables created by other threads
    meanwhile are zeros too.
    """
    with variables_start_as_zeros():
        yield
