"""Orbax checkpoints: what is kept, what is inside, and restoring onto another mesh."""

import jax
import numpy as np
from engine_helpers import synthetic_batch
from training_helpers import tiny_training

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.config.job_config import CheckpointConfig


def _setup(tmp_path, mesh, devices):
    lora = ("method.kind=lora", "method.lora_targets=[query,value,ffw_linear]")
    return tiny_training(tmp_path, *lora, mesh=mesh, devices=devices)


def _step(setup, state, seed):
    host = synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size, seed=seed)
    return setup.steps.train(state.trainable, state.frozen, state.opt_state, setup.device_batch(host))


def test_saved_on_4x2_resumes_on_2x4_and_on_one_device(tmp_path):
    original = _setup(tmp_path, (1, 4, 2), jax.devices())
    state = original.initial_state()
    for seed in range(2):
        state.trainable, state.opt_state, _ = _step(original, state, seed)
    store = CheckpointStore(str(tmp_path / "ckpt"), CheckpointConfig(async_save=True))
    meta = {"lora": {"rank": 8, "alpha": 16.0, "targets": ["query", "value", "ffw_linear"]}}
    store.save(2, state, {"epoch": 0, "step_in_epoch": 2}, meta)
    store.wait()
    _, _, expected = _step(original, state, seed=2)

    for mesh, devices in (((1, 2, 4), jax.devices()), ((1, 1, 1), jax.devices()[:1])):
        resumed = _setup(tmp_path, mesh, devices)
        like = resumed.initial_state()
        trainable, opt_state, frozen, position, saved_meta = store.restore(2, like)
        assert frozen is None  # "trainable" checkpoints hold the LoRA factors only
        assert position == {"epoch": 0, "step_in_epoch": 2} and saved_meta == meta
        assert [t.sharding for t in trainable] == resumed.trainable_shardings
        like.trainable, like.opt_state = trainable, opt_state
        _, _, metrics = _step(resumed, like, seed=2)
        assert abs(float(metrics["loss"]) - float(expected["loss"])) < 1e-5, mesh
    store.close()


def test_keeps_the_newest_n_and_the_best_by_eval_loss(tmp_path):
    setup = _setup(tmp_path, (1, 8, 1), jax.devices())
    state = setup.initial_state()
    store = CheckpointStore(str(tmp_path / "ckpt"), CheckpointConfig(keep=2, keep_best=True, async_save=False))
    eval_losses = {1: 3.0, 2: 1.0, 3: 2.5, 4: None, 5: 2.0, 6: None}
    for step, eval_loss in eval_losses.items():
        store.save(step, state, {"epoch": 0, "step_in_epoch": step}, {}, eval_loss=eval_loss)
    store.wait()
    assert store.all_steps() == [2, 5, 6]  # newest two (5, 6) plus the best eval loss (2)
    store.close()


def test_full_checkpoints_include_the_base_weights(tmp_path):
    setup = _setup(tmp_path, (1, 8, 1), jax.devices())
    state = setup.initial_state()
    state.frozen = [x + 1 for x in state.frozen]
    store = CheckpointStore(str(tmp_path / "ckpt"), CheckpointConfig(save="full", async_save=False))
    store.save(1, state, {}, {})
    _, _, frozen, _, _ = store.restore(1, setup.initial_state())
    for saved, restored in zip(state.frozen, frozen):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    store.close()
