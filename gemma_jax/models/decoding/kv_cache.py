"""Keys and values of every decoder block, one slot per token position of the batch.

Rows of a batch are left-padded so that all of them write the same slot at each
step; `starts[b]` is the first real slot of row b and position = slot - start.

Keys are stored transposed, [batch, kv_heads, head_dim, slots], values as
[batch, slots, kv_heads, head_dim]: a decoding step's two sums then both run
with a contiguous axis innermost (q·k over head_dim accumulates rows of slots;
weights·v over slots accumulates rows of head_dim), which XLA:CPU vectorizes;
with keys like values, q·k reduced along the innermost axis, one slot at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gemma_jax.models.decoding.config import DecoderConfig


class KVCache(NamedTuple):
    keys: tuple[jax.Array, ...]  # per layer [batch, kv_heads, head_dim, slots]
    values: tuple[jax.Array, ...]  # per layer [batch, slots, kv_heads, head_dim]

    @classmethod
    def zeros(cls, config: DecoderConfig, batch: int, slots: int, dtype=jnp.float32) -> KVCache:
        kv_heads, head_dim, layers = config.num_key_value_heads, config.head_dim, config.num_layers
        keys = tuple(jnp.zeros((batch, kv_heads, head_dim, slots), dtype) for _ in range(layers))
        values = tuple(jnp.zeros((batch, slots, kv_heads, head_dim), dtype) for _ in range(layers))
        return cls(keys, values)

    @property
    def slots(self) -> int:
        return self.values[0].shape[1]

    def write(self, layer: int, slot: jax.Array, keys: jax.Array, values: jax.Array) -> KVCache:
        """Store [batch, tokens, kv_heads, head_dim] keys/values at slots slot..slot+tokens-1."""
        keys = jnp.transpose(keys, (0, 2, 3, 1)).astype(self.keys[layer].dtype)
        new_keys = jax.lax.dynamic_update_slice(self.keys[layer], keys, (0, 0, 0, slot))
        new_values = jax.lax.dynamic_update_slice(
            self.values[layer], values.astype(self.values[layer].dtype), (0, slot, 0, 0)
        )
        return KVCache(
            self.keys[:layer] + (new_keys,) + self.keys[layer + 1 :],
            self.values[:layer] + (new_values,) + self.values[layer + 1 :],
        )


def attention_mask(query_slots: jax.Array, starts: jax.Array, slots: int, window: int | None) -> jax.Array:
    """[batch, queries, slots] bool: a query sees real, earlier-or-same slots within the sliding window."""
    key_slots = jnp.arange(slots)[None, None, :]
    queries = query_slots[None, :, None]
    mask = (key_slots >= starts[:, None, None]) & (key_slots <= queries)
    if window is not None:
        mask &= queries - key_slots < window
    return mask
