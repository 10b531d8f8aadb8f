"""Workarounds for Keras-Hub Gemma bugs, applied to every backbone gemma-jax builds or loads.

Query scaling: `GemmaDecoderBlock` and `Gemma3DecoderBlock` (keras-hub 0.32)
create their attention layer with `query_head_dim_normalize=True` whatever
the block was given, so models that scale queries by
1/sqrt(hidden_size / num_heads) instead of 1/sqrt(head_dim) (Gemma 2 9B and
27B, Gemma 3 27B: transformers' `query_pre_attn_scalar`) attend with the wrong
temperature. The attention layer reads the flag at call time, so setting it
from the block's own setting after construction fixes the forward pass, Keras-Hub's
generation and our PackedDecoder alike. It is not saved (presets rebuild the
layer), which is why it is applied on every load.
"""

from __future__ import annotations

from gemma_jax.compat.keras_hub import set_query_head_dim_normalize


def apply_keras_hub_fixes(backbone) -> None:
    """Fix the query scaling of every decoder block of a Keras-Hub Gemma backbone in place."""
    for block in getattr(backbone, "transformer_layers", []):
        wanted = getattr(block, "query_head_dim_normalize", None)
        attention = getattr(block, "attention", None)
        if wanted is not None and attention is not None:
            set_query_head_dim_normalize(attention, wanted)
