"""Weight matrices stored for fast matrix-vector products, in float32, bfloat16 or int8.

Every projection is kept as [out, in] (each output channel's weights contiguous)
and applied as `x @ values.astype(float32).T`. On XLA:CPU a one-row product in
that form is emitted as one loop that converts each weight on the fly, so
bf16/int8 weights are read at their own width; the [in, out] layout, or an
einsum without the transpose, materializes a float32 copy of the whole matrix
on every call instead (3-15x slower for the 262k-row head). Several rows at once (batched
decoding, prompts) take another form, with the weights on the left (see `apply`).
int8 is weight-only with one scale per output channel (symmetric, absmax/127).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

WEIGHT_DTYPES = ("float32", "bfloat16", "int8")


class Matrix(NamedTuple):
    """[out, in] weights; `scale` [out] only for int8 (value = values * scale)."""

    values: jax.Array
    scale: jax.Array | None = None

    @classmethod
    def pack(cls, out_in: jax.Array, weight_dtype: str) -> Matrix:
        """Store a float [out, in] matrix as `weight_dtype` (call inside jit)."""
        out_in = out_in.astype(jnp.float32)
        if weight_dtype == "float32":
            return cls(out_in)
        if weight_dtype == "bfloat16":
            return cls(out_in.astype(jnp.bfloat16))
        if weight_dtype == "int8":
            absmax = jnp.max(jnp.abs(out_in), axis=1)
            scale = jnp.where(absmax > 0, absmax / 127.0, 1.0)
            values = jnp.clip(jnp.round(out_in / scale[:, None]), -127, 127).astype(jnp.int8)
            return cls(values, scale)
        raise ValueError(f"unknown weight dtype {weight_dtype!r}; use one of {', '.join(WEIGHT_DTYPES)}")

    def apply(self, x: jax.Array) -> jax.Array:
        """x [..., in] → [..., out] in float32."""
        # Written as a 2-d product with an explicit transpose: XLA:CPU then fuses the
        # conversion and the transpose into the matrix-vector loop (an einsum does not).
        # The barrier materializes the activations first; fused into the loop, they would be
        # recomputed (norms, embedding lookups, ...) for every output channel.
        rows = jax.lax.optimization_barrier(x.reshape(-1, x.shape[-1]).astype(jnp.float32))
        if rows.shape[0] > 1:
            # Several rows: weights on the left, as [1, out, in] x [rows, in] -> [1, out, rows].
            # Inside the decode loop XLA:CPU (YNNPACK) runs this form about 1.7x faster for a few
            # rows than rows on the left, with the same numbers: 8 rows of the 262k-row head in
            # 33 ms instead of 72 per step; the plain 2-d [out, rows] form is folded back into
            # rows-on-the-left by XLA and gains nothing. Prompts (hundreds of rows) cost the same.
            weights = self.values.astype(jnp.float32)[None]
            columns = jax.lax.dot_general(weights, rows, (((2,), (1,)), ((), ())))
            y = jnp.moveaxis(columns, 2, 0).reshape(rows.shape[0], -1)
        elif self.values.dtype == jnp.float32:
            # Nothing to convert: contract the `in` axes directly (XLA:CPU's matrix-vector loop).
            y = jax.lax.dot_general(rows, self.values, (((1,), (1,)), ((), ())))
        else:
            y = rows @ self.values.astype(jnp.float32).T
        if self.scale is not None:
            y = y * self.scale
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def rows(self, index: jax.Array) -> jax.Array:
        """Rows `index` as float32 (the embedding lookup of a tied head)."""
        rows = jnp.take(self.values, index, axis=0).astype(jnp.float32)
        return rows if self.scale is None else rows * jnp.take(self.scale, index, axis=0)[..., None]
