"""One pass of the Gemma decoder over new tokens, reading and extending the KV cache.

The same function prefills a prompt (many tokens, one call) and decodes (one
token per call). It follows Keras-Hub's Gemma/Gemma 2/Gemma 3 layers: embedding
× √hidden, RMS norms with `1 + scale`, optional query/key norms (Gemma 3), RoPE
by position (split-half rotation; Gemma 1/2 reorder the halves of both queries
and keys afterwards, which leaves q·k unchanged, so we skip it), queries scaled
before q·k, attention logit soft cap (Gemma 2), sliding windows, gated tanh-GELU
feed-forward, optional post norms, final norm and tied output head with the
final soft cap. Everything is computed in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gemma_jax.models.decoding.config import DecoderConfig
from gemma_jax.models.decoding.kv_cache import KVCache, attention_mask
from gemma_jax.models.decoding.matrix import Matrix


def rms_norm(x: jax.Array, one_plus_scale: jax.Array, epsilon: float) -> jax.Array:
    variance = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x * (1.0 / jnp.sqrt(variance + epsilon)) * one_plus_scale


def _rope_tables(positions: jax.Array, head_dim: int, wavelength: float, scaling: float):
    """cos/sin [batch, tokens, 1, head_dim] as Keras-Hub's RotaryEmbedding computes them."""
    exponents = jnp.arange(0, head_dim, 2, dtype=jnp.float32) / jnp.float32(head_dim)
    inverse_frequency = jnp.power(jnp.float32(wavelength), -exponents) / jnp.float32(scaling)
    frequency = positions.astype(jnp.float32)[..., None] * inverse_frequency
    angles = jnp.concatenate([frequency, frequency], axis=-1)[:, :, None, :]
    return jnp.cos(angles), jnp.sin(angles)


def _rotate(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    first, second = jnp.split(x, 2, axis=-1)
    return x * cos + jnp.concatenate([-second, first], axis=-1) * sin


def _soft_cap(x: jax.Array, cap: float | None) -> jax.Array:
    return x if cap is None else jnp.tanh(x / cap) * cap


def _attention(config, layer, x, tables, cache, index, slot, mask):
    """The layer's attention output, its cache, and its attention probabilities ([batch, kv_heads,
    groups, tokens, slots] for a prompt; unused, and so compiled away, unless forward keeps them)."""
    batch, tokens, _ = x.shape
    heads, kv_heads, head_dim = config.num_query_heads, config.num_key_value_heads, config.head_dim
    qkv = layer["qkv"].apply(x).reshape(batch, tokens, heads + 2 * kv_heads, head_dim)
    # Queries and keys get their norms and RoPE together (fewer, larger kernels per layer).
    query_key, value = qkv[:, :, : heads + kv_heads], qkv[:, :, heads + kv_heads :]
    if config.use_query_key_norm:
        query_key = rms_norm(query_key, layer["query_key_norm"], config.norm_epsilon)
    query_key = _rotate(query_key, *tables)
    query, key = query_key[:, :, :heads] * jnp.float32(config.query_scale), query_key[:, :, heads:]
    cache = cache.write(index, slot, key, value)
    groups = heads // kv_heads
    keys, values = (
        cache.keys[index],
        cache.values[index],
    )  # [batch, kv_heads, head_dim, slots], [batch, slots, kv_heads, head_dim]
    if tokens == 1:
        # One query: products and sums, not dots. XLA:CPU copies the whole loop-carried
        # cache for a dot operand (twice per layer and step); a reduction reads it in place,
        # and with slots innermost in the keys both sums vectorize (8 rows: 9 → 3.5 ms a step).
        query = query.reshape(batch, kv_heads, groups, head_dim)
        scores = jnp.sum(query[..., None] * keys[:, :, None], axis=3)  # [batch, kv_heads, groups, slots]
        scores = _soft_cap(scores, config.attention_soft_cap)
        scores = jnp.where(mask[:, None, None, 0], scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1)
        attended = jnp.sum(jnp.moveaxis(weights, 3, 1)[..., None] * values[:, :, :, None, :], axis=1)
        attended = attended.reshape(batch, 1, heads * head_dim)
        weights = weights[:, :, :, None, :]  # [batch, kv_heads, groups, 1, slots]
    else:
        # A prompt pass starts at slot 0 (forward checks): only its own `tokens` slots can be seen, so
        # attention skips the empty room for new tokens (a third of the prefill's attention, or less).
        keys, values, mask = keys[..., :tokens], values[:, :tokens], mask[..., :tokens]
        query = query.reshape(batch, tokens, kv_heads, groups, head_dim)
        scores = jnp.einsum("btkgh,bkhs->bkgts", query, keys)
        scores = _soft_cap(scores, config.attention_soft_cap)
        scores = jnp.where(mask[:, None, None], scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1)
        attended = jnp.einsum("bkgts,bskh->btkgh", weights, values).reshape(batch, tokens, heads * head_dim)
        weights = jnp.pad(weights, ((0, 0),) * 4 + ((0, cache.slots - tokens),))
    return layer["attention_output"].apply(attended), cache, weights


def _feed_forward(layer, x):
    gate, up = jnp.split(layer["gating"].apply(x), 2, axis=-1)
    return layer["linear"].apply(jax.nn.gelu(gate, approximate=True) * up)


def forward(
    weights: dict,
    config: DecoderConfig,
    token_ids: jax.Array,
    cache: KVCache,
    slot: jax.Array | int,
    starts: jax.Array,
    keep_attention: bool = False,
) -> tuple[jax.Array, KVCache] | tuple[jax.Array, KVCache, list[jax.Array]]:
    """Hidden states [batch, tokens, hidden] (before the final norm) of `token_ids` [batch, tokens]
    written at cache slots slot..slot+tokens-1, and the cache holding their keys/values. Several
    tokens are a prompt: they start at slot 0 (the int 0); one token may go to any (traced) slot.

    keep_attention: also return each layer's attention probabilities, [batch, heads, tokens, slots]
    (the softmax the layer itself applied: what the attention view shows)."""
    tokens = token_ids.shape[1]
    if tokens > 1 and not (isinstance(slot, int) and slot == 0):
        raise ValueError(f"several tokens ({tokens}) are a prompt pass, which starts at slot 0 (the int), not {slot!r}")
    query_slots = slot + jnp.arange(tokens)
    positions = jnp.maximum(query_slots[None, :] - starts[:, None], 0)
    x = weights["embedding"].rows(token_ids) * jnp.float32(config.embedding_scale)
    tables, masks, kept = {}, {}, []
    for index, layer in enumerate(weights["layers"]):
        rope = (config.rope_wavelengths[index], config.rope_scaling_factors[index])
        if rope not in tables:
            tables[rope] = _rope_tables(positions, config.head_dim, *rope)
        window = config.sliding_windows[index]
        if window not in masks:
            masks[window] = attention_mask(query_slots, starts, cache.slots, window)
        attended, cache, probabilities = _attention(
            config,
            layer,
            rms_norm(x, layer["pre_attention_norm"], config.norm_epsilon),
            tables[rope],
            cache,
            index,
            slot,
            masks[window],
        )
        if keep_attention:
            kept.append(probabilities.reshape(x.shape[0], config.num_query_heads, tokens, -1))
        if config.use_post_attention_norm:
            attended = rms_norm(attended, layer["post_attention_norm"], config.norm_epsilon)
        x = x + attended
        hidden = _feed_forward(layer, rms_norm(x, layer["pre_ffw_norm"], config.norm_epsilon))
        if config.use_post_ffw_norm:
            hidden = rms_norm(hidden, layer["post_ffw_norm"], config.norm_epsilon)
        x = x + hidden
    return (x, cache, kept) if keep_attention else (x, cache)


def logits(weights: dict, config: DecoderConfig, hidden: jax.Array) -> jax.Array:
    """[..., vocab] float32 logits of hidden states [..., hidden]: final norm, tied head, soft cap."""
    normed = rms_norm(hidden, weights["final_norm"], config.norm_epsilon)
    embedding: Matrix = weights["embedding"]
    out = _soft_cap(embedding.apply(normed), config.final_soft_cap)
    if config.decodable_vocabulary is not None and config.decodable_vocabulary < out.shape[-1]:
        out = jnp.where(jnp.arange(out.shape[-1]) < config.decodable_vocabulary, out, -jnp.inf)
    return out
