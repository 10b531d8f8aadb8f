"""Keras-Hub private APIs gemma-jax relies on, each behind one function (Keras-Hub 0.32).

Keras-Hub is imported inside the functions that need its `src` modules, never
at import time. tests/compat/test_private_reaches.py guards every function
here; setup.cfg bounds Keras-Hub below its next minor release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


def apply_rope(attention: keras.layers.Layer, x, positions):
    """RoPE of queries or keys `x` ([batch, seq, heads, head_dim]) at per-token `positions`, as the layer does it.

    Gemma 3's attention applies its public `rope_layer` as is. Gemma 1/2's also
    swaps the rotated halves into the original Gemma layout, which only its
    private `CachedGemmaAttention._apply_rope(x, start_index, positions=)` does;
    the layer's public `call` takes contiguous positions from a cache index and
    cannot rotate packed rows, whose positions restart at every segment.
    """
    if hasattr(attention, "use_query_key_norm"):  # Gemma 3: plain RoPE
        return attention.rope_layer(x, positions=positions)
    return attention._apply_rope(x, 0, positions=positions)


def compute_attention(attention: keras.layers.Layer, query, key, value, mask):
    """The attention layer's own kernel on projected, rotated `query`/`key`/`value` under a [B, S, S] `mask`.

    Private: `CachedGemma(3)Attention._compute_attention(q, k, v, mask)`. It holds
    the layer's query scaling, logit soft cap, sliding window and the fused op
    choice; the public `call` builds its own causal mask from a cache and cannot
    take the block-diagonal mask of packed rows.
    """
    return attention._compute_attention(query, key, value, mask)


def sliding_window_mask(attention: keras.layers.Layer, mask):
    """`mask` [B, S, S] narrowed to the layer's sliding window when it has one (else unchanged).

    Private: `CachedGemma(3)Attention._mask_sliding_window(mask)`, the window the layer's own
    kernel applies, so an attention written outside the layer keeps its exact band.
    """
    if not getattr(attention, "use_sliding_window_attention", False):
        return mask
    return attention._mask_sliding_window(mask)


def set_query_head_dim_normalize(attention: keras.layers.Layer, normalize: bool) -> bool:
    """Make `attention` scale queries by 1/sqrt(head_dim) (True) or 1/sqrt(hidden/heads) (False); False if it can't.

    Keras-Hub 0.32's Gemma decoder blocks build their attention with
    `query_head_dim_normalize=True` whatever they were given (see
    models/sources/keras_fixes.py). The attention layer's undocumented attribute
    of that name is read at call time, so setting it after construction is the
    only fix short of rebuilding the layer (reading it is plain configuration).
    """
    if not hasattr(attention, "query_head_dim_normalize"):
        return False
    attention.query_head_dim_normalize = bool(normalize)
    return True


def transformers_backbone(path: str, config: dict, **kwargs) -> keras.Model:
    """The Keras-Hub backbone of the Hugging Face checkpoint in `path`, built from `config` (a prepared config.json).

    Private: `keras_hub.src.utils.transformers.preset_loader.TransformersPresetLoader`.
    The public `Backbone.from_preset` reads config.json itself, and we must hand
    it a corrected config (models/sources/hf_config.py) and text-only overrides.
    `kwargs` go to the backbone's constructor (e.g. `dtype`).
    """
    loader = _transformers_loader(path, config)
    return loader.load_backbone(loader.check_backbone_class(), True, **kwargs)


def transformers_tokenizer(path: str, config: dict, tokenizer_class: type) -> Any:
    """A `tokenizer_class` (e.g. keras_hub.models.Gemma3Tokenizer) for the Hugging Face checkpoint in `path`.

    Private: the same `TransformersPresetLoader` as `transformers_backbone`, so
    it converts the tokenizer files the way the backbone's converter expects.
    """
    return _transformers_loader(path, config).load_tokenizer(tokenizer_class)


def _transformers_loader(path: str, config: dict):
    from keras_hub.src.utils.transformers.preset_loader import TransformersPresetLoader

    return TransformersPresetLoader(path, config)


def gemma3_transformers_config(backbone: keras.Model) -> dict:
    """Keras-Hub's transformers config.json fields for a Gemma 3 backbone (export/transformers_export.py corrects them).

    Private: `keras_hub.src.utils.transformers.export.gemma3.get_gemma3_config`;
    Keras-Hub only exposes it through `export_to_transformers`, which also writes
    the weights and tokenizer we export ourselves.
    """
    from keras_hub.src.utils.transformers.export.gemma3 import get_gemma3_config

    return get_gemma3_config(backbone)
