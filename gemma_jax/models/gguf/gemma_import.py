"""Import a llama.cpp GGUF Gemma 1 (incl. CodeGemma) or Gemma 2 model into Keras-Hub's `GemmaBackbone`.

What llama.cpp stores and what it implies (convert_hf_to_gguf.py's GemmaModel
and Gemma2Model; src/llama-model.cpp and llama-hparams.h for the defaults):

- both: the shared keys (see `metadata.py`); no RoPE base (10k, which Keras-Hub's
  GemmaAttention hard-codes); RMSNorm weights stored as 1 + w; no output head
  (tied to the embedding); ``feed_forward_length`` is HF's ``intermediate_size``,
  half of Keras-Hub's ``intermediate_dim``. Gemma 1 scales queries by
  1/sqrt(head_dim).
- Gemma 2 adds ``gemma2.attn_logit_softcapping`` (default 50),
  ``gemma2.final_logit_softcapping`` (default 30) and
  ``gemma2.attention.sliding_window`` (default 4096), and implies: sliding
  window on even layers, global on odd ones (Keras-Hub's ``i % 2 == 0``);
  post-attention and post-FFW norms; queries scaled by 1/sqrt(head_dim), except
  the 46-layer 27B, scaled by 1/sqrt(hidden/heads) (HF's ``query_pre_attn_scalar``
  is not stored; llama.cpp keys it on the layer count, and so does this).
  Keras-Hub 0.32's decoder block drops ``query_head_dim_normalize=False``;
  `import_backbone` applies gemma-jax's fix.

Tensor names: Gemma 1's ``ffn_norm`` is HF's ``post_attention_layernorm`` (the
pre-FFW norm); Gemma 2 names its four norms like Gemma 3 (see `weights.py`).
"""

from __future__ import annotations

import os

from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.metadata import (
    check_architecture,
    check_rope_base,
    metadata_reader,
    rope_scaling_factor,
    shared_config,
)
from gemma_jax.models.gguf.reader import GGUFFile, read_gguf
from gemma_jax.models.gguf.weights import WeightPlan, block_plan, embedding_plan, import_backbone

MODEL_NAMES = {"gemma": "Gemma", "gemma2": "Gemma 2"}
ROPE_BASE = 10_000.0  # Keras-Hub's GemmaAttention hard-codes it; llama.cpp's default for both
# llama.cpp's Gemma 2 defaults when the file has no value (llama-hparams.h, llama-model.cpp)
GEMMA2_ATTENTION_SOFT_CAP = 50.0
GEMMA2_FINAL_SOFT_CAP = 30.0
GEMMA2_SLIDING_WINDOW = 4096
# Gemma 2 27B (46 layers) scales queries by 1/sqrt(hidden/heads) (query_pre_attn_scalar 144), not 1/sqrt(head_dim).
_GEMMA2_LAYERS_SCALING_BY_HIDDEN = {46}


def _soft_cap(gguf: GGUFFile, meta, name: str, default: float) -> float:
    value = float(meta(name, default))
    if not value > 0:
        raise GGUFImportError(f"'{gguf.path}': {gguf.architecture}.{name} is {value:g}; a Gemma 2 soft cap is positive")
    return value


def gemma_config_from_gguf(gguf: GGUFFile) -> dict:
    """`GemmaBackbone` keyword arguments (less dtype) from a Gemma 1 or Gemma 2 GGUF file's metadata."""
    arch = check_architecture(gguf, tuple(MODEL_NAMES), "Gemma and Gemma 2")
    model_name = MODEL_NAMES[arch]
    meta = metadata_reader(gguf, model_name)
    config = shared_config(gguf, meta)
    check_rope_base(gguf, meta, ROPE_BASE, "GemmaBackbone")
    if rope_scaling_factor(gguf) != 1.0:
        raise GGUFImportError(f"'{gguf.path}': RoPE scaling is not supported for {model_name} (Keras-Hub has none)")
    config["intermediate_dim"] = 2 * int(meta("feed_forward_length"))  # Keras-Hub counts gate and up together
    if arch == "gemma":
        return {
            **config,
            "query_head_dim_normalize": True,
            "use_post_ffw_norm": False,
            "use_post_attention_norm": False,
            "attention_logit_soft_cap": None,
            "final_logit_soft_cap": None,
            "use_sliding_window_attention": False,
            "sliding_window_size": 4096,
        }
    sliding_window = int(meta("attention.sliding_window", GEMMA2_SLIDING_WINDOW))
    return {
        **config,
        "query_head_dim_normalize": config["num_layers"] not in _GEMMA2_LAYERS_SCALING_BY_HIDDEN,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": _soft_cap(gguf, meta, "attn_logit_softcapping", GEMMA2_ATTENTION_SOFT_CAP),
        "final_logit_soft_cap": _soft_cap(gguf, meta, "final_logit_softcapping", GEMMA2_FINAL_SOFT_CAP),
        "use_sliding_window_attention": sliding_window > 0,
        "sliding_window_size": sliding_window if sliding_window > 0 else GEMMA2_SLIDING_WINDOW,
    }


def weight_plan(backbone) -> WeightPlan:
    """(GGUF tensor name, Keras variable, transform) for every weight of a GemmaBackbone."""
    plan = embedding_plan(backbone)
    for i in range(backbone.num_layers):
        plan += block_plan(i, backbone.get_layer(f"decoder_block_{i}"))
    return plan


def import_gemma(gguf: GGUFFile, dtype: str = "float32"):
    """An open Gemma 1/2 GGUF file as (keras_hub GemmaBackbone, serialized SentencePiece proto)."""
    import keras_hub

    config = gemma_config_from_gguf(gguf)
    model_name = MODEL_NAMES[gguf.architecture]
    return import_backbone(gguf, keras_hub.models.GemmaBackbone, config, weight_plan, dtype, model_name)


def load_gemma_gguf(path: str | os.PathLike[str], dtype: str = "float32"):
    """Load a Gemma 1 or Gemma 2 GGUF file: returns (keras_hub GemmaBackbone, serialized SentencePiece proto).

    Raises GGUFFormatError for a file that is not (complete) GGUF and
    GGUFImportError for one that is not a Gemma 1/2 model this importer can load.
    """
    with read_gguf(path) as gguf:
        return import_gemma(gguf, dtype)


def keras_tokenizer(proto: bytes):
    """The Keras-Hub tokenizer a Gemma 1/2 preset saves."""
    import keras_hub

    return keras_hub.models.GemmaTokenizer(proto=proto)
