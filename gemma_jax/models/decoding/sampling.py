"""Choosing the next token from logits: greedy, or top-k with temperature.

Greedy is an argmax over the vocabulary (no softmax). Sampling draws from the
`top_k` largest logits divided by the temperature, as Keras-Hub's TopKSampler
does, so only k values ever go through the softmax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_tokens(logits: jax.Array, key: jax.Array, temperature: jax.Array, top_k: int | None) -> jax.Array:
    """[batch] int32 token ids from [batch, vocab] logits; `top_k=None` means greedy."""
    if top_k is None:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    values, indices = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))
    choice = jax.random.categorical(key, values / temperature, axis=-1)
    return jnp.take_along_axis(indices, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)
