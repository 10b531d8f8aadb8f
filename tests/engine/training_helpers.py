"""Tiny training setups, full-logits references and run comparisons shared by the engine tests.

Apart from engine_helpers because these import JAX, Keras and the trainer, which the job and
run tests that borrow `fast_config` do not want at import.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from engine_helpers import TEXTS, fast_config

from gemma_jax.config.dtypes import resolve_dtype
from gemma_jax.models.loading import load_model
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.setup import TrainingSetup, build_training
from gemma_jax.train.trainer import Trainer, train_run


def tiny_training(
    tmp_path, *overrides: str, mesh: tuple[int, int, int] | None = None, devices=None, total_steps: int = 10
) -> TrainingSetup:
    """A fast_config job's tiny model (vocabulary trained on TEXTS) built for training: on `devices`
    (None: build_training's default, all of them), with `mesh` = (data, fsdp, model) when given.
    model.dtype "auto" resolves as the trainer resolves it on this backend."""
    mesh_overrides = () if mesh is None else (f"mesh.data={mesh[0]}", f"mesh.fsdp={mesh[1]}", f"mesh.model={mesh[2]}")
    cfg = fast_config(tmp_path, *mesh_overrides, *overrides)
    dtype = resolve_dtype(cfg.model.dtype, jax.default_backend())
    model = load_model(cfg.model.source, dtype=dtype, vocab_texts=TEXTS)
    return build_training(cfg, model, total_steps=total_steps, devices=devices)


def random_head_inputs(rng: np.random.RandomState) -> tuple:
    """(hidden [50, 32], embedding [1000, 32], targets, valid) for checking the chunked losses;
    1000 is not a multiple of the tests' chunk of 128, so the padded last chunk is exercised."""
    hidden = jnp.asarray(rng.randn(50, 32), jnp.float32)
    embedding = jnp.asarray(rng.randn(1000, 32) * 0.3, jnp.float32)
    targets = jnp.asarray(rng.randint(0, 1000, 50))
    valid = jnp.asarray(rng.rand(50) > 0.3)
    return hidden, embedding, targets, valid


def full_target_log_probs(hidden, embedding, targets, soft_cap):
    """log p(target) per position from the full [N, vocab] logits: the reference the chunked scan must equal."""
    logits = hidden @ embedding.T
    if soft_cap:
        logits = jnp.tanh(logits / soft_cap) * soft_cap
    return jnp.take_along_axis(jax.nn.log_softmax(logits, -1), targets[:, None], 1)[:, 0]


def assert_same_outcome(first: tuple, second: tuple, atol: float) -> None:
    """Two train steps' (loss, trainable weights) agree to `atol`: the same step computed two ways."""
    assert abs(first[0] - second[0]) < atol
    for a, b in zip(first[1], second[1]):
        np.testing.assert_allclose(a, b, atol=atol)


def train_metrics(store: RunStore) -> list[dict]:
    """A run's per-step metrics.jsonl records (events such as "resumed" left out)."""
    records, _ = store.read_metrics()
    return [r for r in records if "loss" in r]


def straight_and_resumed_runs(tmp_path, overrides, stop_step: int) -> tuple[RunStore, RunStore, dict]:
    """The same job run straight through, and run again stopped after `stop_step` then resumed.

    Returns (straight run, resumed run, the resumed run's status.json as it was when stopped)."""
    reference = RunStore.create(fast_config(tmp_path / "a", *overrides))
    assert train_run(str(reference.path), progress=False) == "completed"
    store = RunStore.create(fast_config(tmp_path / "b", *overrides))
    assert Trainer(store, progress=False, abort_after_step=stop_step).run() == "aborted"
    stopped = store.read_status()
    assert train_run(str(store.path), progress=False) == "completed"
    return reference, store, stopped


def assert_resumed_run_matches(reference: RunStore, resumed: RunStore, steps: int) -> tuple[dict, dict]:
    """Every step 1..steps logged by both, with the same loss and the same examples in the same order.

    Returns both runs' records by step, for the caller's own checks."""
    expected = {m["step"]: m for m in train_metrics(reference)}
    again = {m["step"]: m for m in train_metrics(resumed)}
    assert sorted(again) == sorted(expected) == list(range(1, steps + 1))
    for step, record in expected.items():
        assert abs(again[step]["loss"] - record["loss"]) < 1e-5, step
        assert again[step]["batch_crc"] == record["batch_crc"], step  # same examples, same order
    return expected, again
