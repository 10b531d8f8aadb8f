"""Choosing the next token from logits: greedy, or top-k / top-p (nucleus) with temperature.

Greedy is an argmax over the vocabulary (no softmax). Sampling draws from the
`top_k` largest logits divided by the temperature, as Keras-Hub's TopKSampler
does, so only k values ever go through the softmax. `top_p` < 1 then keeps the
smallest set of those candidates whose probabilities add up to at least top_p
(the most likely one always stays); top_p = 1 keeps all k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_tokens(
    logits: jax.Array, key: jax.Array, temperature: jax.Array, top_k: int | None, top_p: jax.Array | None = None
) -> jax.Array:
    """[batch] int32 token ids from [batch, vocab] logits; `top_k=None` means greedy."""
    if top_k is None:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    values, indices = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))
    scaled = values / temperature
    if top_p is not None:
        probabilities = jax.nn.softmax(scaled, axis=-1)
        before = jnp.cumsum(probabilities, axis=-1) - probabilities  # mass of the more likely candidates
        scaled = jnp.where(before < top_p, scaled, -jnp.inf)
    choice = jax.random.categorical(key, scaled, axis=-1)
    return jnp.take_along_axis(indices, choice[:, None], axis=-1)[:, 0].astype(jnp.int32)
