"""Small configs and synthetic batches shared by the engine tests (and others: no JAX import here)."""

from __future__ import annotations

import numpy as np

from gemma_jax.config import JobConfig, apply_overrides

# What the tiny models' vocabularies are trained on.
TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 40

# float32 pinned: these tests compare a step computed two ways (sharded, accumulated, exported, resumed) to
# float32 rounding; model.dtype "auto" would train in bf16 on a CPU with bf16 units, where they cannot agree
# that closely. What auto picks is tested on its own (test_field_specs, test_mixed_einsum).
FAST = [
    "model.source=tiny:gemma3",
    "model.dtype=float32",
    "data.sequence_length=128",
    "train.batch_size=8",
    "eval.every_steps=0",
    "eval.sample_every_steps=0",
    "checkpoint.async_save=false",
]


def fast_config(tmp_path, *overrides: str) -> JobConfig:
    return apply_overrides(JobConfig(runs_dir=str(tmp_path / "runs")), [*FAST, *overrides])


def synthetic_batch(rows: int, length: int, groups: int, vocab: int, seed: int = 0) -> dict:
    """A host batch in the BatchIterator format, two packed segments per row."""
    rng = np.random.RandomState(seed)
    split = length // 3
    token_ids = rng.randint(6, vocab, size=(rows, length)).astype("int32")
    segment_ids = np.concatenate([np.ones((rows, split)), 2 * np.ones((rows, length - split))], 1).astype("int32")
    positions = np.concatenate([np.arange(split), np.arange(length - split)])[None].repeat(rows, 0).astype("int32")
    targets = np.roll(token_ids, -1, 1)
    loss_mask = rng.rand(rows, length) > 0.4
    loss_mask[:, [split - 1, length - 1]] = False  # never predict across a segment end
    per_group = loss_mask.reshape(groups, -1)
    capacity = 64 * -(-int(per_group.sum(1).max()) // 64)
    loss_index = np.zeros((groups, capacity), "int32")
    loss_valid = np.zeros((groups, capacity), bool)
    for g in range(groups):
        where = np.nonzero(per_group[g])[0]
        loss_index[g, : len(where)] = where
        loss_valid[g, : len(where)] = True
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "positions": positions,
        "targets": targets,
        "loss_mask": loss_mask,
        "loss_index": loss_index,
        "loss_valid": loss_valid,
    }


def train_repeatedly(setup, steps: int):
    """`steps` training steps of `setup` on one synthetic batch: (final state, the losses)."""
    state = setup.initial_state()
    host = synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size)
    losses = []
    for _ in range(steps):
        state.trainable, state.opt_state, metrics = setup.steps.train(
            state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
        )
        losses.append(float(metrics["loss"]))
    return state, losses
