"""A persistent XLA compilation cache, so a run of a shape compiled before starts without recompiling.

JAX keys each compiled program by its computation, shapes, shardings, devices and flags, so a cached
program is the one a fresh compile would give (same results); only the compile time is saved.
"""

from __future__ import annotations

import os

import jax

CACHE_ENV = "GEMMA_JAX_XLA_CACHE"
MAX_CACHE_BYTES = 4 * 1024**3  # least recently used programs are evicted above this
MIN_COMPILE_S = 0.15  # faster compiles are not worth a file; the LoRA initializers (0.2-0.8 s each) are


def cache_folder() -> str:
    """$GEMMA_JAX_XLA_CACHE, else ~/.cache/gemma_jax/xla."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gemma_jax", "xla")


def use_compilation_cache(enabled: bool) -> str | None:
    """Point JAX at the cache folder (train.compilation_cache); returns the folder, or None when off or when
    the folder cannot be made (the run then compiles as usual: a cache is not worth failing a run over)."""
    if not enabled:
        return None
    folder = cache_folder()
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
    return folder
