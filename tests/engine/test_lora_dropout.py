"""LoRA dropout: only in training steps, keyed by the step, absent from the compiled step when off."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from engine_helpers import synthetic_batch
from training_helpers import tiny_training

from gemma_jax.train.lora_projection import LoraDropout, project


def _train_and_evaluate(tmp_path, rate: float):
    """Two train steps on one batch; returns (setup, state, batch, losses, the compiled step's HLO)."""
    lora = (f"method.lora_dropout={rate}", "method.lora_targets=[query,value,ffw_linear]")
    setup = tiny_training(tmp_path, *lora, devices=jax.devices()[:2])
    state = setup.initial_state()
    batch = setup.device_batch(synthetic_batch(8, 32, setup.loss_groups, setup.model.tokenizer.vocabulary_size))
    compiled = setup.steps.train.lower(state.trainable, state.frozen, state.opt_state, batch).compile()
    losses = []
    for _ in range(2):
        state.trainable, state.opt_state, metrics = compiled(state.trainable, state.frozen, state.opt_state, batch)
        losses.append(float(metrics["loss"]))
    return setup, state, batch, losses, compiled.as_text()


@pytest.mark.slow  # two setups, four compilations
def test_dropout_changes_training_only(tmp_path):
    off, _, batch, off_losses, off_hlo = _train_and_evaluate(tmp_path / "off", 0.0)
    on, on_state, _, on_losses, on_hlo = _train_and_evaluate(tmp_path / "on", 0.5)

    assert "threefry" not in off_hlo and "threefry" in on_hlo  # p=0: no random numbers in the step at all
    # Step 1 starts from B = 0, where the adapters' input does not reach the loss; its gradient
    # (and so step 2) sees the dropped input.
    assert on_losses[0] == off_losses[0] and on_losses[1] != off_losses[1]

    # Evaluation never drops: the same weights give the same eval loss, whatever the rate.
    first = [float(x) for x in on.steps.evaluate(on_state.trainable, on_state.frozen, batch)]
    again = [float(x) for x in on.steps.evaluate(on_state.trainable, on_state.frozen, batch)]
    no_dropout = [float(x) for x in off.steps.evaluate(on_state.trainable, on_state.frozen, batch)]
    assert first == again
    np.testing.assert_allclose(first, no_dropout, rtol=1e-6)


def _adapted(equation: str, kernel: np.ndarray, a: np.ndarray, b: np.ndarray, quantization: str | None):
    layer = keras.layers.EinsumDense(equation, output_shape=(None, kernel.shape[-1]))
    layer.build((2, 5, kernel.shape[0]))
    layer.kernel.assign(kernel)
    if quantization:
        layer.quantize(quantization)
    layer.enable_lora(a.shape[-1], lora_alpha=8.0)
    layer.lora_kernel_a.assign(a)
    layer.lora_kernel_b.assign(b)
    return layer


def test_dropout_reaches_the_adapter_input_over_a_float_and_a_quantized_base():
    rng = np.random.RandomState(0)
    kernel, a, b = (rng.normal(size=shape).astype("float32") for shape in ((8, 16), (8, 4), (4, 16)))
    x = jnp.asarray(rng.normal(size=(2, 5, 8)).astype("float32"))
    dropout = LoraDropout(0.5, jax.random.PRNGKey(3))
    adapter = lambda lay: np.asarray(project(lay, x, dropout)) - np.asarray(project(lay, x))
    float_layer = _adapted("btd,df->btf", kernel, a, b, None)
    int8_layer = _adapted("btd,df->btf", kernel, a, b, "int8")
    dropped = np.asarray(dropout(x))
    assert 0.3 < (dropped == 0).mean() < 0.7 and np.allclose(dropped[dropped != 0], 2 * np.asarray(x)[dropped != 0])
    expected = 2.0 * ((dropped - np.asarray(x)) @ a @ b)  # s = alpha / rank = 2
    np.testing.assert_allclose(adapter(float_layer), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(adapter(int8_layer), expected, rtol=1e-4, atol=1e-4)  # the same masks and term
