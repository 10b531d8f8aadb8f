"""Optimizers, schedules, precision and remat options of the step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import synthetic_batch
from training_helpers import assert_same_outcome, tiny_training

from gemma_jax.config.job_config import ScheduleConfig
from gemma_jax.train.optimizer import make_schedule


def _one_step(tmp_path, *overrides, devices=None):
    setup = tiny_training(tmp_path, *overrides, devices=devices or jax.devices()[:1])
    state = setup.initial_state()
    host = synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size)
    before = [np.asarray(t) for t in state.trainable]
    trainable, opt_state, metrics = setup.steps.train(
        state.trainable, state.frozen, state.opt_state, setup.device_batch(host)
    )
    return setup, before, trainable, opt_state, metrics


@pytest.mark.parametrize("name", ["adamw", "adafactor", "lion", "sgd"])
def test_each_optimizer_takes_a_finite_step_that_changes_weights(tmp_path, name):
    _, before, trainable, _, metrics = _one_step(
        tmp_path, f"optimizer.name={name}", "method.kind=full", "optimizer.weight_decay=0.01", "schedule.name=constant"
    )
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
    assert any(np.abs(np.asarray(a) - b).max() > 0 for a, b in zip(trainable, before))


def test_bf16_compute_keeps_f32_lora_weights_and_optimizer_state(tmp_path):
    setup, _, trainable, opt_state, metrics = _one_step(tmp_path, "model.dtype=bfloat16", "method.kind=lora")
    assert {v.dtype for v in setup.decoder.non_trainable_variables if "kernel" in v.path} == {"bfloat16"}
    assert {t.dtype for t in trainable} == {jnp.dtype("float32")}
    moments = [leaf for leaf in jax.tree_util.tree_leaves(opt_state) if leaf.ndim > 0]
    assert moments and {m.dtype for m in moments} == {jnp.dtype("float32")}
    assert np.isfinite(float(metrics["loss"]))


def test_remat_changes_nothing_but_memory(tmp_path):
    results = []
    for remat in ("false", "true"):
        _, _, trainable, _, metrics = _one_step(tmp_path, f"model.remat={remat}", "method.kind=lora")
        results.append((float(metrics["loss"]), [np.asarray(t) for t in trainable]))
    assert_same_outcome(*results, atol=1e-6)


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    outcomes = []
    for accum in (1, 2):
        setup = tiny_training(
            tmp_path, f"train.grad_accum_steps={accum}", "method.kind=lora", devices=jax.devices()[:1]
        )
        state = setup.initial_state()
        host = synthetic_batch(8, 32, 2, setup.model.tokenizer.vocabulary_size)  # same rows and loss positions
        _, _, metrics = setup.steps.train(state.trainable, state.frozen, state.opt_state, setup.device_batch(host))
        outcomes.append((float(metrics["loss"]), float(metrics["grad_norm"])))
    np.testing.assert_allclose(outcomes[0], outcomes[1], rtol=1e-5)


def test_schedules():
    warm_cosine = make_schedule(ScheduleConfig(name="cosine", warmup_steps=10, min_lr_ratio=0.1), 1.0, 110)
    assert float(warm_cosine(0)) == 0.0 and abs(float(warm_cosine(5)) - 0.5) < 1e-6
    assert abs(float(warm_cosine(10)) - 1.0) < 1e-6 and abs(float(warm_cosine(110)) - 0.1) < 1e-6
    assert abs(float(warm_cosine(60)) - 0.55) < 1e-6  # halfway down the cosine
    linear = make_schedule(ScheduleConfig(name="linear", min_lr_ratio=0.0), 2.0, 100)
    assert abs(float(linear(50)) - 1.0) < 1e-6
    constant = make_schedule(ScheduleConfig(name="constant", warmup_steps=0), 3e-4, 100)
    assert float(constant(0)) == float(constant(99)) == pytest.approx(3e-4)
