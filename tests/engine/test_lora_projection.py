"""The factored LoRA projection: same outputs and adapter gradients as Keras' merged kernel, less work."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gemma_jax.models.loading import build_backbone
from gemma_jax.models.lora import LORA_TARGETS, apply_lora, target_layers
from gemma_jax.train import lora_projection
from gemma_jax.train.lora_projection import project


@pytest.fixture(scope="module")
def adapted_block():
    backbone, _ = build_backbone("gemma3", 256, dtype="float32", seed=0)
    apply_lora(backbone, 4, 8.0, list(LORA_TARGETS))
    rng = np.random.RandomState(0)
    for layer in target_layers(backbone, list(LORA_TARGETS)):
        layer.lora_kernel_b.assign(rng.normal(size=layer.lora_kernel_b.shape).astype("float32") * 0.1)
    return backbone


def _input_for(layer, rng):
    spec = layer.equation.split(",")[0]
    kernel_spec = layer.equation.split(",")[1].split("->")[0]
    dims = [2, 5] + [layer._kernel.shape[kernel_spec.index(axis)] for axis in spec[2:]]
    return jnp.asarray(rng.normal(size=dims).astype("float32"))


def test_project_equals_keras_merged_kernel(adapted_block):
    rng = np.random.RandomState(1)
    for layer in target_layers(adapted_block, list(LORA_TARGETS))[: len(LORA_TARGETS)]:
        x = _input_for(layer, rng)
        assert lora_projection._factored(layer), layer.name
        np.testing.assert_allclose(project(layer, x), layer(x), atol=1e-5, err_msg=layer.name)


def _adapter_grads(layer, x, call):
    """d sum(sin(call(layer, x))) / d (A, B), traced through the adapters' values."""
    variables = [layer.lora_kernel_a, layer.lora_kernel_b]
    values = [v.value for v in variables]

    def loss(traced):
        for variable, value in zip(variables, traced):
            variable._value = value
        return jnp.sum(jnp.sin(call(layer, x)))

    grads = jax.grad(loss)(values)
    for variable, value in zip(variables, values):
        variable._value = value
    return grads


def test_adapter_gradients_equal_keras(adapted_block):
    rng = np.random.RandomState(2)
    for layer in target_layers(adapted_block, list(LORA_TARGETS))[: len(LORA_TARGETS)]:
        x = _input_for(layer, rng)
        ours = _adapter_grads(layer, x, project)
        merged = _adapter_grads(layer, x, lambda lay, inp: lay(inp))
        for a, b in zip(ours, merged):
            assert float(jnp.abs(b).max()) > 0
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=layer.name)


def test_factored_path_skips_the_kernel_sized_gradient(adapted_block):
    layer = adapted_block.transformer_layers[0].gating_ffw
    x = jnp.ones((4, 64, layer._kernel.shape[0]))
    a, b = layer.lora_kernel_a.value, layer.lora_kernel_b.value

    def flops(call) -> float:
        def loss(a, b):
            layer.lora_kernel_a._value, layer.lora_kernel_b._value = a, b
            return jnp.sum(call(layer, x))

        cost = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(a, b).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        return cost["flops"]

    factored, merged = flops(project), flops(lambda lay, inp: lay(inp))
    layer.lora_kernel_a._value, layer.lora_kernel_b._value = a, b
    kernel_gradient = 2 * x.shape[0] * x.shape[1] * layer._kernel.shape[0] * layer._kernel.shape[1]
    assert merged - factored > 0.8 * kernel_gradient


def test_plain_layers_fall_back_to_keras():
    backbone, _ = build_backbone("gemma3", 256, dtype="float32", seed=0)
    layer = backbone.transformer_layers[0].ffw_linear
    assert not lora_projection._factored(layer)
    x = jnp.ones((1, 3, layer._kernel.shape[0]))
    np.testing.assert_array_equal(project(layer, x), layer(x))
