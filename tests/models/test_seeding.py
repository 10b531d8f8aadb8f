"""A seed alone fixes a random-init model and its LoRA factors, whatever other threads draw."""

import random
import threading

import numpy as np

from gemma_jax.models.loading import build_backbone
from gemma_jax.models.lora import apply_lora

TARGETS = ("query", "value", "ffw_linear")


def _weights(seed: int = 0, lora_seed: int = 0) -> dict[str, np.ndarray]:
    backbone, _ = build_backbone("gemma3", 256, dtype="float32", seed=seed)
    apply_lora(backbone, 4, 8.0, TARGETS, seed=lora_seed)
    return {w.path: np.array(w.numpy()) for w in backbone.weights}


def _while_a_thread_draws_from_random(build):
    """What google-cloud-storage's background metadata fetch does to Python's `random`."""
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()
            stop.wait(0.0002)

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        return build()
    finally:
        stop.set()
        thread.join()


def test_weights_do_not_depend_on_other_threads_drawing_from_random():
    quiet = _weights()
    random.random()  # the global generator is somewhere else now, too
    noisy = _while_a_thread_draws_from_random(_weights)
    assert quiet.keys() == noisy.keys()
    assert any("lora_kernel_a" in path for path in quiet)
    differing = [path for path in quiet if not np.array_equal(quiet[path], noisy[path])]
    assert differing == []


def test_the_seeds_choose_the_weights():
    base = _weights()
    other_model, other_lora = _weights(seed=1), _weights(lora_seed=1)
    kernels = [p for p in base if p.endswith("attention/query/kernel")]
    lora_a = [p for p in base if p.endswith("lora_kernel_a")]
    assert kernels and lora_a
    assert all(not np.array_equal(base[p], other_model[p]) for p in kernels)
    assert all(np.array_equal(base[p], other_lora[p]) for p in kernels)
    assert all(not np.array_equal(base[p], other_lora[p]) for p in lora_a)
    # Each adapted layer gets its own A factor, not one value repeated.
    assert len({base[p].tobytes() for p in lora_a}) == len(lora_a)
