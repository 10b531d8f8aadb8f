"""Every use of a third-party library's private API, one module per library.

- `gemma_jax.compat.keras`: Keras internals (EinsumDense's stored kernel and int4
  layout, the recursive sublayer walk, the default-seed generator, Variable's
  initializer hook).
- `gemma_jax.compat.keras_hub`: Keras-Hub internals (the Gemma attention layer's
  RoPE and attention kernel, its query-scaling flag, the transformers loader and
  Gemma 3 config exporter under `keras_hub.src`).

Nothing else in gemma_jax reaches a private attribute or `.src`/`_src` module of
a third-party library. setup.cfg bounds these libraries below their next minor
release, and tests/compat/test_private_reaches.py has one guard per reach, so an
upgrade that moves one fails there by name instead of silently changing results.

This package imports nothing itself: each submodule imports its library inside
the functions, so importing it costs what the caller already paid (the
dashboard's server process must never import JAX).
"""
