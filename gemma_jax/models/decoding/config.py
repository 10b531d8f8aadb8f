"""The static shape and settings of a Gemma decoder, read off a Keras-Hub backbone.

Everything the pure-JAX decoder needs besides the weights. It is hashable, so it
can be a static argument of the jitted generation loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class DecoderConfig:
    """Per-model constants; per-layer settings are tuples with one entry per decoder block."""

    vocabulary_size: int
    hidden_dim: int
    num_query_heads: int
    num_key_value_heads: int
    head_dim: int
    query_scale: float  # multiplies queries before q·k (Keras-Hub's query normalization)
    attention_soft_cap: float | None
    final_soft_cap: float | None
    use_query_key_norm: bool
    use_post_attention_norm: bool
    use_post_ffw_norm: bool
    norm_epsilon: float
    sliding_windows: tuple[int | None, ...]  # keys at most this many tokens back (itself included), or all
    rope_wavelengths: tuple[float, ...]
    rope_scaling_factors: tuple[float, ...]
    # Ids the tokenizer can turn into text, when fewer than the embedding's rows (a `random:` full-size model
    # with a small vocabulary trained on the data): the others are never chosen. None: every id.
    decodable_vocabulary: int | None = None

    @property
    def num_layers(self) -> int:
        return len(self.sliding_windows)

    @property
    def embedding_scale(self) -> float:
        return math.sqrt(self.hidden_dim)

    @classmethod
    def from_backbone(cls, backbone: keras.Model) -> DecoderConfig:
        """Read a GemmaBackbone (Gemma 1/2) or text-only Gemma3Backbone; other models raise ValueError."""
        name = type(backbone).__name__
        if name not in ("GemmaBackbone", "Gemma3Backbone"):
            raise ValueError(f"fast generation supports Keras-Hub Gemma backbones, not {name}")
        if getattr(backbone, "use_bidirectional_attention", False) or getattr(backbone, "is_embedding_model", False):
            raise ValueError(f"{name} is an embedding model (bidirectional attention); it cannot generate text")
        if name == "Gemma3Backbone" and not getattr(backbone, "text_only_model", True):
            raise ValueError("fast generation supports text-only Gemma 3 backbones; load the model without vision")
        windows, wavelengths, factors, scales, caps = [], [], [], set(), set()
        for block in backbone.transformer_layers:
            attention = block.attention
            rope = attention.rope_layer
            if getattr(rope, "rope_type", "linear") != "linear":
                raise ValueError(f"{block.name} uses {rope.rope_type!r} RoPE scaling; only linear scaling is supported")
            if getattr(rope, "denominator_dim", None) not in (None, attention.head_dim):
                raise ValueError(f"{block.name}: RoPE over part of the head is not supported")
            windows.append(attention.sliding_window_size if attention.use_sliding_window_attention else None)
            wavelengths.append(float(rope.max_wavelength))
            factors.append(float(rope.scaling_factor))
            if attention.query_head_dim_normalize:
                scales.add(1.0 / math.sqrt(attention.head_dim))
            else:
                scales.add(1.0 / math.sqrt(backbone.hidden_dim // attention.num_query_heads))
            caps.add(attention.logit_soft_cap)
        if len(scales) != 1 or len(caps) != 1:
            raise ValueError(f"{name}: layers differ in query scaling or attention soft cap; not supported")
        return cls(
            vocabulary_size=int(backbone.vocabulary_size),
            hidden_dim=int(backbone.hidden_dim),
            num_query_heads=int(backbone.num_query_heads),
            num_key_value_heads=int(backbone.num_key_value_heads),
            head_dim=int(backbone.head_dim),
            query_scale=scales.pop(),
            attention_soft_cap=caps.pop(),
            final_soft_cap=getattr(backbone, "final_logit_soft_cap", None),
            use_query_key_norm=bool(getattr(backbone, "use_query_key_norm", False)),
            use_post_attention_norm=bool(backbone.use_post_attention_norm),
            use_post_ffw_norm=bool(backbone.use_post_ffw_norm),
            norm_epsilon=float(backbone.layer_norm_epsilon),
            sliding_windows=tuple(windows),
            rope_wavelengths=tuple(wavelengths),
            rope_scaling_factors=tuple(factors),
        )
