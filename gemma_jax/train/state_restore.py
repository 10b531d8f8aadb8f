"""Restore a run's training state from a checkpoint, including checkpoints written before the
optimizer state carried its training controls (see optimizer.ControlledState)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.train.optimizer import ControlledState
from gemma_jax.train.setup import TrainState


def restore_state(checkpoints: CheckpointStore, step: int, like: TrainState):
    """`checkpoints.restore(step, like)`: (trainable, opt_state, frozen or None, data position, meta).

    An older checkpoint holds the bare optax state; it is restored into `like`'s inner state
    and wrapped with the step count it was saved at and the configured learning rate (scale 1).
    """
    try:
        return checkpoints.restore(step, like)
    except ValueError as error:  # Orbax: the saved tree does not have the structure asked for
        try:
            legacy = TrainState(like.trainable, like.frozen, like.opt_state.inner)
            trainable, inner, frozen, position, meta = checkpoints.restore(step, legacy)
        except Exception:  # noqa: BLE001  (not an older checkpoint either: report the first problem)
            raise error from None
    count = like.opt_state.step
    opt_state = ControlledState(
        jax.device_put(jnp.asarray(step, count.dtype), count.sharding), like.opt_state.lr_scale, inner
    )
    return trainable, opt_state, frozen, position, meta
