"""bf16 compute with float32 accumulation: the projections' and the head's dots, and a bf16 run's loss curve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from engine_helpers import train_repeatedly
from training_helpers import tiny_training

from gemma_jax.cpu_features import BF16_UNITS_OVERRIDE
from gemma_jax.train.mixed_einsum import accumulate_in_float32, projection_einsum

EQUATION = "btd,dnh->btnh"  # Gemma's query projection


def _operands(dtype):
    rng = np.random.RandomState(0)
    x = jnp.asarray(rng.normal(size=(2, 5, 64)), dtype)
    kernel = jnp.asarray(rng.normal(size=(64, 4, 16)) * 0.1, dtype)
    return x, kernel


def _grads(x, kernel):
    def loss(a, b):
        return jnp.sum(jnp.sin(projection_einsum(EQUATION, a, b, f32_accumulation=True).astype(jnp.float32)))

    return jax.grad(loss, (0, 1))(x, kernel)


def test_float32_is_plain_einsum():
    x, kernel = _operands(jnp.float32)
    np.testing.assert_array_equal(projection_einsum(EQUATION, x, kernel), jnp.einsum(EQUATION, x, kernel))


def test_bf16_values_and_gradients_follow_float32():
    x, kernel = _operands(jnp.float32)
    low_x, low_kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    out = projection_einsum(EQUATION, low_x, low_kernel, f32_accumulation=True)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(out.astype(jnp.float32), jnp.einsum(EQUATION, x, kernel), atol=0.03, rtol=0.02)
    for low, reference in zip(_grads(low_x, low_kernel), _grads(x, kernel)):
        assert low.dtype == jnp.bfloat16
        scale = float(jnp.abs(reference).max())
        np.testing.assert_allclose(low.astype(jnp.float32), reference, atol=0.02 * scale)


def test_bf16_dots_take_bf16_operands_and_accumulate_in_float32_both_ways():
    """The fast units' path, forward and backward: no dot with a bf16 result or a float32 operand."""
    x, kernel = _operands(jnp.bfloat16)
    jaxpr = jax.make_jaxpr(_grads)(x, kernel)
    dots = [e for e in _equations(jaxpr.jaxpr) if e.primitive.name == "dot_general"]
    assert len(dots) == 3  # forward, d input, d kernel
    for dot in dots:
        assert [v.aval.dtype for v in dot.invars] == [jnp.bfloat16, jnp.bfloat16]
        assert dot.params["preferred_element_type"] == jnp.float32


def _equations(jaxpr):
    for equation in jaxpr.eqns:
        yield equation
        for sub in jax.core.subjaxprs(equation) if hasattr(jax.core, "subjaxprs") else _params_jaxprs(equation):
            yield from _equations(sub)


def _params_jaxprs(equation):
    for value in equation.params.values():
        inner = getattr(value, "jaxpr", None)
        if inner is not None:
            yield getattr(inner, "jaxpr", inner)


def test_a_float32_result_keeps_the_sums_and_the_gradients_stay_bf16():
    x, kernel = _operands(jnp.float32)
    low_x, low_kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    wide = projection_einsum(EQUATION, low_x, low_kernel, f32_accumulation=True, out_dtype=jnp.float32)
    exact = jnp.einsum(EQUATION, low_x.astype(jnp.float32), low_kernel.astype(jnp.float32))
    assert wide.dtype == jnp.float32
    np.testing.assert_allclose(wide, exact, rtol=1e-5, atol=1e-5)  # not rounded to bf16
    grads = jax.grad(
        lambda a, b: jnp.sum(jnp.sin(projection_einsum(EQUATION, a, b, f32_accumulation=True, out_dtype=jnp.float32))),
        (0, 1),
    )(low_x, low_kernel)
    assert [g.dtype for g in grads] == [jnp.bfloat16, jnp.bfloat16]


def test_ellipsis_equations_fall_back_to_plain_einsum():
    x, kernel = _operands(jnp.bfloat16)
    out = projection_einsum("...d,dnh->...nh", x, kernel, f32_accumulation=True)
    np.testing.assert_array_equal(out, jnp.einsum("...d,dnh->...nh", x, kernel))


def test_float32_accumulation_only_for_bf16_on_cpus_with_bf16_units(monkeypatch):
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1")
    assert accumulate_in_float32(jnp.bfloat16) and not accumulate_in_float32(jnp.float32)
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "0")
    assert not accumulate_in_float32(jnp.bfloat16)


def _loss_curve(tmp_path, dtype: str, steps: int = 12) -> list[float]:
    overrides = (f"model.dtype={dtype}", "method.kind=lora", "optimizer.learning_rate=0.01", "schedule.name=constant")
    return train_repeatedly(tiny_training(tmp_path / dtype, *overrides, devices=jax.devices()[:1]), steps)[1]


@pytest.mark.parametrize("bf16_units", [True, False], ids=["f32-accumulation", "bf16-result"])
def test_bf16_loss_curve_stays_within_tolerance_of_float32(tmp_path, monkeypatch, bf16_units):
    """The stated tolerance (docs/architecture.md): every step's loss within 2% of float32's, on
    both bf16 paths (a CPU with bf16 units, where the dots accumulate in float32, and one without)."""
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1" if bf16_units else "0")
    full, low = _loss_curve(tmp_path, "float32"), _loss_curve(tmp_path, "bfloat16")
    assert full[-1] < full[0] - 0.1  # the curve moves, so agreement means something
    np.testing.assert_allclose(low, full, rtol=0.02)
