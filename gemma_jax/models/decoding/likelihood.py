"""Log-probabilities of given tokens under the decoder: what multiple-choice scoring, per-token
probability views and error analysis read. One prefill-like pass over [batch, slots] (left-padded,
as in generation), with the output head applied a chunk of positions at a time so that a 262k
vocabulary never needs [batch, slots, vocab] at once."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.decode_step import forward, logits
from gemma_jax.models.decoding.generate_loop import COMPILER_OPTIONS
from gemma_jax.models.decoding.kv_cache import KVCache

POSITION_CHUNK = 32  # positions sent through the output head together


@functools.partial(jax.jit, static_argnames=("config", "top_k"), compiler_options=COMPILER_OPTIONS)
def next_token_log_probs(
    weights, token_ids: jax.Array, starts: jax.Array, *, config: DecoderConfig, top_k: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For each position t of `token_ids` [batch, slots]: log p(token t+1 | tokens ≤ t) [batch, slots]
    (the last position's is 0), and the top_k most likely next tokens' log-probs and ids
    [batch, slots, top_k]. Slots must be a multiple of POSITION_CHUNK."""
    batch, slots = token_ids.shape
    cache = KVCache.zeros(config, batch, slots)
    hidden, _ = forward(weights, config, token_ids, cache, jnp.int32(0), starts)
    targets = jnp.concatenate([token_ids[:, 1:], jnp.zeros((batch, 1), token_ids.dtype)], axis=1)
    chunks = slots // POSITION_CHUNK
    hidden = hidden.reshape(batch, chunks, POSITION_CHUNK, -1).swapaxes(0, 1)
    targets = targets.reshape(batch, chunks, POSITION_CHUNK).swapaxes(0, 1)

    def score(part):
        states, wanted = part
        log_probs = jax.nn.log_softmax(logits(weights, config, states), axis=-1)
        chosen = jnp.take_along_axis(log_probs, wanted[..., None], axis=-1)[..., 0]
        best, ids = jax.lax.top_k(log_probs, top_k)
        return chosen, best, ids

    chosen, best, ids = jax.lax.map(score, (hidden, targets))
    chosen = chosen.swapaxes(0, 1).reshape(batch, slots).at[:, -1].set(0.0)
    best = best.swapaxes(0, 1).reshape(batch, slots, top_k)
    ids = ids.swapaxes(0, 1).reshape(batch, slots, top_k)
    return chosen, best, ids
