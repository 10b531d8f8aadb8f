"""Does a model directory's config.json describe the model its weight files hold? Checked before building.

A config.json is small and easy to edit: one claiming 1e9 layers would have Keras allocate until the
machine runs out of memory, long before any weight is read. So the parameter count its shape implies is
compared with the bytes its weight files hold (at least half a byte per parameter, int4 included) and
with the memory the machine has for them in the loading dtype, and refused with the figures otherwise.
"""

from __future__ import annotations

import os

import psutil

from gemma_jax.models.memory_estimate import GB
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.hf_config import text_config
from gemma_jax.models.variant_shape import GemmaShape

_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_SLACK = 16 * 1024 * 1024  # tiny test models: metadata outweighs their weights


def _weight_bytes_on_disk(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith((".safetensors", ".h5", ".keras", ".weights.json", ".npz")):
                total += os.path.getsize(os.path.join(root, name))
    return total


def hf_shape(config: dict) -> GemmaShape:
    """The shape a (completed) Hugging Face Gemma config.json describes."""
    text = text_config(config)
    return GemmaShape(
        backbone="gemma3" if config.get("model_type") in ("gemma3", "gemma3_text") else "gemma",
        vocabulary_size=int(text["vocab_size"]),
        num_layers=int(text["num_hidden_layers"]),
        hidden_dim=int(text["hidden_size"]),
        num_query_heads=int(text["num_attention_heads"]),
        num_key_value_heads=int(text.get("num_key_value_heads") or text["num_attention_heads"]),
        head_dim=int(text["head_dim"]),
        ffn_dim=int(text["intermediate_size"]),
        context_length=int(text.get("max_position_embeddings") or 8192),
    )


def check_claimed_size(path: str, shape: GemmaShape, dtype: str) -> None:
    """ModelLoadError when `shape` (from `path`'s config.json) cannot be what its weight files hold, or its
    weights alone would not fit in this machine's available memory in `dtype`."""
    params = shape.parameter_count()
    if min(shape.num_layers, shape.hidden_dim, shape.vocabulary_size, shape.head_dim, shape.ffn_dim) < 1:
        raise ModelLoadError(f"'{path}' has a config.json with a zero or negative size; it is damaged")
    on_disk = _weight_bytes_on_disk(path)
    if params / 2 > on_disk * 1.25 + _SLACK:
        raise ModelLoadError(
            f"'{path}' has a config.json describing a model of {params:,} parameters (at least "
            f"{params / 2 / GB:,.1f} GB of weights), but its weight files hold {on_disk / GB:,.2f} GB: the config "
            "does not match the weights. Restore the config.json that came with them."
        )
    need, available = params * _BYTES.get(dtype, 4), psutil.virtual_memory().available
    if need > available:
        raise ModelLoadError(
            f"'{path}' is a model of {params / 1e9:,.2f}B parameters: its weights alone need about {need / GB:,.1f} GB "
            f"in {dtype}, and this machine has {available / GB:,.1f} GB available. Use a smaller model, "
            "bfloat16 (model.dtype), or a machine with more memory."
        )
