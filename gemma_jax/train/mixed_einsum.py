"""Projections with bfloat16 operands and float32 accumulation, forward and backward, on CPUs with bf16 units.

Intel AMX and AVX512-BF16 multiply bf16 operands into float32 sums. XLA:CPU takes
that path for a dot with `preferred_element_type=float32`; a dot whose result type
is bf16 runs a much slower path there (measured on an AMX Xeon: 0.57 TFLOP/s against
0.10). Autodiff of such a dot would feed its float32 cotangent back into the gradient
dots, mixing f32 and bf16 operands and missing the fast path again, so the backward
pass is written here: the cotangent is rounded to bf16 and both gradient dots
accumulate in float32 too.

Where it is not used: float32 operands (a float32 run is bit-for-bit unchanged);
GPUs and TPUs, whose bf16 dots already accumulate in float32 inside the tensor cores
and MXUs; and CPUs without bf16 units, where the f32-accumulating dot is the slower
one (measured on an AMD EPYC without AVX512-BF16: 0.10 TFLOP/s against 0.16 for a
bf16-result dot, forward and backward of a 270M projection).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gemma_jax.cpu_features import cpu_has_bf16_units


def accumulate_in_float32(dtype) -> bool:
    """Whether dots of `dtype` operands should ask for float32 results: bf16 on a CPU with bf16 units."""
    return jnp.dtype(dtype) == jnp.bfloat16 and jax.default_backend() == "cpu" and cpu_has_bf16_units()


def _sides(equation: str) -> tuple[str, str, str]:
    inputs, output = equation.replace(" ", "").split("->")
    left, right = inputs.split(",")
    return left, right, output


def _transposable(equation: str) -> bool:
    """True for a two-operand equation whose gradients are einsums of the same letters:
    no ellipsis and no index that is summed inside one operand alone."""
    if "..." in equation or "->" not in equation or equation.count(",") != 1:
        return False
    left, right, output = _sides(equation)
    return all(letter in right + output for letter in left) and all(letter in left + output for letter in right)


def _f32_einsum(equation: str, a, b, dtype):
    return jnp.einsum(equation, a, b, preferred_element_type=jnp.float32).astype(dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def _bf16_einsum(equation: str, x, kernel, out_dtype):
    return _f32_einsum(equation, x, kernel, out_dtype)


def _bf16_einsum_fwd(equation: str, x, kernel, out_dtype):
    return _bf16_einsum(equation, x, kernel, out_dtype), (x, kernel)


def _bf16_einsum_bwd(equation: str, out_dtype, residuals, cotangent):
    x, kernel = residuals
    left, right, output = _sides(equation)
    cotangent = cotangent.astype(x.dtype)
    d_x = _f32_einsum(f"{output},{right}->{left}", cotangent, kernel, x.dtype)
    d_kernel = _f32_einsum(f"{left},{output}->{right}", x, cotangent, kernel.dtype)
    return d_x, d_kernel


_bf16_einsum.defvjp(_bf16_einsum_fwd, _bf16_einsum_bwd)


def mixed_einsum(equation: str, a, b, out_dtype=None):
    """`einsum(equation, a, b)` of two bf16 operands with float32 sums, forward and backward, as `out_dtype`
    (default a's dtype). Callers check `accumulate_in_float32` first; other equations fall back to einsum."""
    out_dtype = jnp.dtype(out_dtype or a.dtype)
    if a.dtype == b.dtype == jnp.bfloat16 and _transposable(equation):
        return _bf16_einsum(equation, a, b, out_dtype)
    return _f32_einsum(equation, a, b, out_dtype)


def projection_einsum(equation: str, x, kernel, *, f32_accumulation: bool | None = None, out_dtype=None):
    """`einsum(equation, x, kernel)` in x's dtype; with `f32_accumulation` (default: `accumulate_in_float32`
    of x's dtype) bf16 operands accumulate in float32 forward and backward, and `out_dtype` (float32)
    keeps the sums unrounded for the elementwise work that follows."""
    kernel = jnp.asarray(kernel, x.dtype)  # a Keras Variable or an array
    if f32_accumulation is None:
        f32_accumulation = accumulate_in_float32(x.dtype)
    if f32_accumulation and x.dtype == jnp.bfloat16 and _transposable(equation):
        return mixed_einsum(equation, x, kernel, out_dtype)
    y = jnp.einsum(equation, x, kernel)
    return y if out_dtype is None else y.astype(out_dtype)
