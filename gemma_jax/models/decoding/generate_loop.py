"""Prompt prefill and token-by-token decoding, as two compiled functions.

`prefill` runs the left-padded prompt block [batch, prompt_slots] through the
decoder in one pass; only its last position reaches the output head. `decode`
then feeds each new token back inside a `lax.while_loop` until every row has
produced a stop token or `max_new_tokens` tokens exist. The cache holds
prompt_slots + `capacity` slots; `max_new_tokens` is a traced value up to
`capacity`, so different lengths reuse one compilation. Streaming
(`stream_tokens`) calls the same `decode` with a limit that grows by a chunk
each time: the state (cache, key, tokens) carries over, so the tokens are
exactly those of one uninterrupted call.

They are separate programs on purpose: in one program XLA shares the prefill's
float32 copies of int8/bf16 weights with the loop body, which then reads four
times the bytes per token (the barrier in the loop body prevents the same).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.decode_step import forward, logits, rms_norm
from gemma_jax.models.decoding.kv_cache import KVCache
from gemma_jax.models.decoding.sampling import next_tokens
from gemma_jax.models.decoding.shortlist import exact_greedy

NO_TOKEN = -1  # output slots after a row stopped, or beyond the tokens generated

# 512-bit vectors for XLA:CPU's generated loops: the int8/bf16 → float32 matrix-vector loops
# that dominate decoding run ~20% faster than with the default 256 (other backends ignore it).
COMPILER_OPTIONS = {"xla_cpu_prefer_vector_width": 512}


class _State(NamedTuple):
    count: jax.Array  # tokens recorded so far
    token: jax.Array  # [batch] the last recorded token, fed next
    cache: KVCache
    tokens: jax.Array  # [batch, capacity]
    done: jax.Array  # [batch] row has recorded a stop token
    key: jax.Array


def _choose(weights, config: DecoderConfig, hidden, key, temperature, top_k, top_p) -> jax.Array:
    """[batch] next tokens from hidden states [batch, hidden]: greedy through the int8 shortlist when
    the weights carry one (the same tokens as the float32 head; see shortlist.py), else from the logits.

    One row only: for several rows XLA:CPU multiplies the float32 head with its matrix-matrix kernel,
    reading it once for all of them (8 rows of the 262k-row head: 33 ms a step), while an int8 product
    converts the weights to float32 first (8 rows of the real 270M decode at 58 tok/s with int8 weights,
    100 with float32)."""
    if top_k is None and "shortlist" in weights and hidden.shape[0] == 1:
        normed = rms_norm(hidden, weights["final_norm"], config.norm_epsilon)
        return exact_greedy(weights["embedding"], weights["shortlist"], normed, config.decodable_vocabulary)
    return next_tokens(logits(weights, config, hidden), key, temperature, top_k, top_p)


def _record(state: _State, token: jax.Array, stop_ids: jax.Array) -> _State:
    column = jnp.where(state.done, NO_TOKEN, token)[:, None]
    tokens = jax.lax.dynamic_update_slice(state.tokens, column, (0, state.count))
    done = state.done | jnp.any(token[:, None] == stop_ids[None, :], axis=-1)
    return state._replace(count=state.count + 1, token=token, tokens=tokens, done=done)


@functools.partial(jax.jit, static_argnames=("config", "capacity", "top_k"), compiler_options=COMPILER_OPTIONS)
def prefill(weights, prompt_ids, starts, stop_ids, temperature, top_p, key, *, config: DecoderConfig, capacity, top_k):
    """The decoding state after the prompt: its cache and the first new token, recorded."""
    batch, prompt_slots = prompt_ids.shape
    cache = KVCache.zeros(config, batch, prompt_slots + capacity)
    hidden, cache = forward(weights, config, prompt_ids, cache, 0, starts)
    key, step_key = jax.random.split(key)
    first = _choose(weights, config, hidden[:, -1], step_key, temperature, top_k, top_p)
    empty = jnp.full((batch, capacity), NO_TOKEN, jnp.int32)
    state = _State(jnp.int32(0), first, cache, empty, jnp.zeros((batch,), bool), key)
    return _record(state, first, stop_ids)


@functools.partial(
    jax.jit, static_argnames=("config", "prompt_slots", "top_k"), donate_argnums=(1,), compiler_options=COMPILER_OPTIONS
)
def decode(
    weights, state: _State, starts, max_new_tokens, stop_ids, temperature, top_p, *, config, prompt_slots, top_k
):
    """Continue `state` until every row stopped or `max_new_tokens` tokens were recorded."""

    def more(carry) -> jax.Array:
        state, _ = carry
        return (state.count < max_new_tokens) & ~jnp.all(state.done)

    def step(carry):
        state, weights = carry
        # The weights travel through the loop behind a barrier tied to the counter, so XLA
        # cannot hoist their int8/bf16 → float32 conversion out of the loop (it would then
        # read float32 copies, 2-4x the bytes, every step).
        weights, count = jax.lax.optimization_barrier((weights, state.count))
        slot = prompt_slots + count - 1  # the slot of the token being fed
        hidden, cache = forward(weights, config, state.token[:, None], state.cache, slot, starts)
        key, step_key = jax.random.split(state.key)
        token = _choose(weights, config, hidden[:, 0], step_key, temperature, top_k, top_p)
        return _record(state._replace(cache=cache, key=key), token, stop_ids), weights

    return jax.lax.while_loop(more, step, (state, weights))[0]


def generate_tokens(*args, **options) -> tuple[jax.Array, jax.Array]:
    """New tokens [batch, capacity] (NO_TOKEN after a row's stop token and past the end; the stop
    token itself is kept) and how many columns were generated. The arguments: `decode_states`'."""
    *_, state = decode_states(*args, **options)
    return state.tokens, state.count


def stream_tokens(*args, chunk: int = 8, **options) -> Iterator[np.ndarray]:
    """generate_tokens in pieces: the new columns [batch, <= chunk] after each `chunk` decoded tokens."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    shown = 0
    for state in decode_states(*args, chunk=chunk, **options):
        count = int(state.count)
        if count > shown:
            yield np.asarray(state.tokens[:, shown:count])
            shown = count


def decode_states(
    weights: dict,
    prompt_ids: jax.Array,
    starts: jax.Array,
    max_new_tokens: int,
    stop_ids: jax.Array,
    temperature: jax.Array,
    key: jax.Array,
    *,
    config: DecoderConfig,
    capacity: int,
    top_k: int | None,
    top_p: float = 1.0,
    chunk: int | None = None,
) -> Iterator[_State]:
    """The decoding state after the prefill, then after each chunk (one step to the end when chunk is None).

    prompt_ids: [batch, prompt_slots] left-padded; starts: [batch] index of each row's first token.
    top_k None: greedy; otherwise sample from the top_k logits at `temperature`, within `top_p`.
    """
    top_p = jnp.float32(top_p)
    state = prefill(
        weights, prompt_ids, starts, stop_ids, temperature, top_p, key, config=config, capacity=capacity, top_k=top_k
    )
    yield state
    limit = 1  # the prefill recorded the first token
    # Only streaming checks for stopped rows between calls (a device sync); decode itself stops there too.
    while limit < max_new_tokens and not (chunk is not None and bool(jnp.all(state.done))):
        limit = max_new_tokens if chunk is None else min(limit + chunk, max_new_tokens)
        state = decode(
            weights,
            state,
            starts,
            jnp.int32(limit),
            stop_ids,
            temperature,
            top_p,
            config=config,
            prompt_slots=prompt_ids.shape[1],
            top_k=top_k,
        )
        yield state
