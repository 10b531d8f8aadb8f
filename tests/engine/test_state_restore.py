"""Checkpoints saved before the optimizer state carried lr_scale and step still resume."""

import jax
import numpy as np
import pytest
from training_helpers import tiny_training

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config.job_config import CheckpointConfig
from gemma_jax.train.optimizer import with_lr_scale
from gemma_jax.train.setup import TrainState
from gemma_jax.train.state_restore import restore_state


def test_old_and_new_checkpoints_restore(tmp_path):
    setup = tiny_training(tmp_path)
    state = setup.initial_state()
    store = CheckpointStore(str(tmp_path / "ckpt"), CheckpointConfig(async_save=False))
    try:
        # An older checkpoint: the bare optax state.
        store.save(2, TrainState(state.trainable, state.frozen, state.opt_state.inner), {"epoch": 0}, {"step": 2})
        _, opt_state, _, position, meta = restore_state(store, 2, state)
        assert meta == {"step": 2}
        assert int(opt_state.step) == 2 and float(opt_state.lr_scale) == 1.0 and position == {"epoch": 0}
        assert opt_state.step.sharding == state.opt_state.step.sharding
        leaves = zip(jax.tree_util.tree_leaves(opt_state.inner), jax.tree_util.tree_leaves(state.opt_state.inner))
        assert all(np.array_equal(a, b) for a, b in leaves)

        # A current one keeps its learning-rate factor.
        state.opt_state = with_lr_scale(state.opt_state, 0.25)
        store.save(3, state, {"epoch": 0}, {"step": 3})
        assert float(restore_state(store, 3, state)[1].lr_scale) == 0.25

        # A checkpoint that fits neither structure reports the structure problem.
        store.save(4, TrainState(state.trainable, state.frozen, {"other": state.opt_state.step}), {}, {})
        with pytest.raises(ValueError, match="structure"):
            restore_state(store, 4, state)
    finally:
        store.close()
