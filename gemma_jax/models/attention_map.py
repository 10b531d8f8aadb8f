"""The model's own attention on one text: every layer's and head's attention probabilities, as the
decoder's layers computed them in their forward pass (gemma_jax.models.decoding.decode_step keeps
the softmax it applied), for the evaluation's attention view."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.decode_step import forward
from gemma_jax.models.decoding.generate_loop import COMPILER_OPTIONS
from gemma_jax.models.decoding.kv_cache import KVCache
from gemma_jax.models.generation import Generator

MAX_TOKENS = 256  # the view is read by a person: longer texts are cut to their first MAX_TOKENS tokens


@functools.partial(jax.jit, static_argnames=("config",), compiler_options=COMPILER_OPTIONS)
def _attention(weights, token_ids: jax.Array, *, config: DecoderConfig) -> jax.Array:
    """[layers, heads, tokens, tokens] attention probabilities of one sequence [1, tokens]."""
    tokens = token_ids.shape[1]
    cache = KVCache.zeros(config, 1, tokens)
    _, _, kept = forward(weights, config, token_ids, cache, 0, jnp.zeros((1,), jnp.int32), True)
    return jnp.stack([layer[0] for layer in kept])


def attention_map(generator: Generator, prompt: str, continuation: str = "") -> tuple[list[str], np.ndarray]:
    """(token pieces, probabilities [layers, heads, tokens, tokens] as float16) of <bos> + prompt +
    continuation under the generator's current weights; row t is where token t looked."""
    tokenizer = generator.model.tokenizer
    ids = [tokenizer.bos_id, *tokenizer.encode(prompt), *tokenizer.encode(continuation)][:MAX_TOKENS]
    probabilities = _attention(generator.weights.current(), jnp.asarray([ids], jnp.int32), config=generator.config)
    return [tokenizer.id_to_piece(i) for i in ids], np.asarray(probabilities, dtype=np.float16)
