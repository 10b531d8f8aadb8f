"""Log-probabilities of given tokens under the decoder: what multiple-choice scoring, per-token
probability views and error analysis read. One prefill-like pass over [batch, slots] (left-padded,
as in generation), with the output head applied only to the last `tail` positions (where the scored
continuations are; the head over a 262k vocabulary costs far more than a position's trip through the
blocks, so scoring prompt positions tripled the time), a chunk of positions at a time so that
[batch, tail, vocab] is never held at once."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.decode_step import forward, logits
from gemma_jax.models.decoding.generate_loop import COMPILER_OPTIONS
from gemma_jax.models.decoding.kv_cache import KVCache

POSITION_CHUNK = 16  # positions sent through the output head together


@functools.partial(jax.jit, static_argnames=("config", "top_k", "tail"), compiler_options=COMPILER_OPTIONS)
def next_token_log_probs(
    weights, token_ids: jax.Array, starts: jax.Array, *, config: DecoderConfig, top_k: int, tail: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """For each of the last `tail` positions t of `token_ids` [batch, slots]: log p(token t+1 | tokens ≤ t)
    [batch, tail] (the last position's is 0), and the top_k most likely next tokens' log-probs and ids
    [batch, tail, top_k]. `tail` must divide into POSITION_CHUNKs and be at most `slots`."""
    batch, slots = token_ids.shape
    cache = KVCache.zeros(config, batch, slots)
    hidden, _ = forward(weights, config, token_ids, cache, 0, starts)
    targets = jnp.concatenate([token_ids[:, 1:], jnp.zeros((batch, 1), token_ids.dtype)], axis=1)
    hidden, targets = hidden[:, slots - tail :], targets[:, slots - tail :]
    chunks = tail // POSITION_CHUNK
    hidden = hidden.reshape(batch, chunks, POSITION_CHUNK, -1).swapaxes(0, 1)
    targets = targets.reshape(batch, chunks, POSITION_CHUNK).swapaxes(0, 1)

    def score(part):
        states, wanted = part
        log_probs = jax.nn.log_softmax(logits(weights, config, states), axis=-1)
        chosen = jnp.take_along_axis(log_probs, wanted[..., None], axis=-1)[..., 0]
        best, ids = jax.lax.top_k(log_probs, top_k)
        return chosen, best, ids

    chosen, best, ids = jax.lax.map(score, (hidden, targets))
    chosen = chosen.swapaxes(0, 1).reshape(batch, tail).at[:, -1].set(0.0)
    best = best.swapaxes(0, 1).reshape(batch, tail, top_k)
    ids = ids.swapaxes(0, 1).reshape(batch, tail, top_k)
    return chosen, best, ids
