"""Attention over packed rows with bf16 operands and float32 sums, on CPUs with bf16 units.

Keras-Hub's Gemma attention kernel (`compute_attention`) multiplies bf16 queries, keys and
probabilities into bf16 results, which XLA:CPU runs by widening both operands to float32
(measured on an AMX Xeon: 0.19 TFLOP/s, a seventh of the step's time on the real 270M). Here
the two products take bf16 operands and accumulate in float32 (`mixed_einsum`), the logits stay
float32 through the soft cap, mask and softmax, and only the probabilities are rounded to bf16
for the second product. The layer's own settings are kept: query scaling, grouped KV heads,
logit soft cap and sliding window.

Everywhere else (float32, GPUs, TPUs, CPUs without bf16 units, attention dropout) the
layer's own kernel runs unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gemma_jax.compat.keras_hub import compute_attention, sliding_window_mask
from gemma_jax.train.mixed_einsum import accumulate_in_float32, mixed_einsum

MASKED = -1e9  # Keras' softmax adds this to masked logits (float32)


def _query_scale(attention) -> float:
    if getattr(attention, "query_head_dim_normalize", True):
        return 1.0 / np.sqrt(attention.head_dim)
    return 1.0 / np.sqrt(attention.hidden_dim // attention.num_query_heads)


def packed_attention(attention, query, key, value, mask):
    """The attention layer's output [B, T, heads, head_dim] for rotated `query` [B, T, heads, head_dim],
    `key`/`value` [B, S, kv_heads, head_dim] under a [B, T, S] bool `mask`."""
    if not accumulate_in_float32(query.dtype) or getattr(attention, "dropout", 0.0):
        return compute_attention(attention, query, key, value, mask)
    mask = sliding_window_mask(attention, mask)
    batch, length, heads, head_dim = query.shape
    kv_heads = attention.num_key_value_heads
    query = query * jnp.asarray(_query_scale(attention), query.dtype)
    query = query.reshape(batch, length, kv_heads, heads // kv_heads, head_dim)
    logits = mixed_einsum("btkgh,bskh->bkgts", query, key, jnp.float32)
    cap = getattr(attention, "logit_soft_cap", None)
    if cap:
        logits = jnp.tanh(logits / cap) * cap
    logits = jnp.where(mask[:, None, None, :, :], logits, MASKED)
    probs = jax.nn.softmax(logits, axis=-1).astype(value.dtype)
    output = mixed_einsum("bkgts,bskh->btkgh", probs, value, value.dtype)
    return output.reshape(batch, length, heads, head_dim)
