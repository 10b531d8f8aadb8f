"""Weights that depend on the seed alone, whatever else runs in the process.

Keras gives every initializer created without a seed one drawn from Python's global
`random` (Keras' private `make_default_seed`, see compat/keras.py). `set_random_seed`
makes that sequence repeatable only while no other thread draws from `random` in
the meantime, and some do: google-cloud-storage fetches bucket metadata in a
background thread whose retry back-off draws its jitter there. One draw in between
is enough to change a random-init model or its LoRA factors. That is enough to
make two runs of the same config differ from step 2 on, or make a generation worker
answer differently from the process that started it.

Inside `seeded_init(seed)` Keras draws those seeds from a private generator
instead. The draws are the ones `set_random_seed(seed)` would give in a quiet
process, so models built before this change keep their weights.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import keras

from gemma_jax.compat.keras import default_seeds_from

_LOCK = threading.RLock()  # two builds in two threads must not share one private generator


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Build Keras layers and weights in this block to get the same values for the same seed."""
    with _LOCK:
        keras.utils.set_random_seed(seed)  # NumPy and Keras' own generator too, as before
        with default_seeds_from(random.Random(seed)):
            yield
