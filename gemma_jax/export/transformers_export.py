"""A Hugging Face transformers folder of a fine-tuned model: adapters folded in, loadable with AutoModelForCausalLM.

`write_transformers` folds LoRA into a plain float copy (`merged_copy`; QLoRA
bases dequantized) and writes config.json, model.safetensors (sharded with an
index past `max_shard_size`), the tokenizer files with the run's chat template
(hf_tokenizer.py) and generation_config.json. Gemma 1 → `GemmaForCausalLM`,
Gemma 2 → `Gemma2ForCausalLM`, text-only Gemma 3 → `Gemma3ForCausalLM`
(model_type gemma3_text).

Departures from Keras-Hub 0.32's `export_to_transformers` (keras_hub/src/utils/transformers/export/):
- Gemma 2: its Gemma exporter always writes model_type "gemma", so soft caps, post-attention and
  post-feed-forward norms, sliding windows and the query scaling were dropped. A GemmaBackbone with
  any Gemma 2 feature is written as model_type "gemma2" with `attn_logit_softcapping`,
  `final_logit_softcapping`, `query_pre_attn_scalar`, `sliding_window` and `layer_types` (sliding on
  even layers, as Keras-Hub builds them), and Gemma 2's four norms under their HF names (Keras-Hub maps
  `pre_ffw_norm` to `post_attention_layernorm`, right for Gemma 1 only).
- Key/value heads: its Gemma weight map takes `key_dense.weights[0][0]` (the first key/value head
  only), wrong for any Gemma with more than one key/value head; every head is written here.
- Gemma 3 config: its bos/eos ids are swapped (bos 1, eos 2; Gemma's vocabulary has eos 1, bos 2):
  ids come from the tokenizer. Soft caps (`attn_logit_softcapping`, `final_logit_softcapping`) go into
  config.json, not only generation_config.json. `max_position_embeddings` is the model's context
  length (it wrote none for Gemma 3, 8192 for Gemma). `torch_dtype` is written as `dtype`
  (transformers 5). The RoPE settings are kept in both spellings (`rope_parameters` per layer type,
  and `rope_theta`/`rope_local_base_freq`/`rope_scaling` for transformers 4), with rope type "default"
  when the scaling factor is 1.
- The query scaling comes from the attention layers (`query_head_dim_normalize`), which gemma-jax
  fixes after loading (models/sources/keras_fixes.py), not from the Keras-Hub block's saved setting.
- Weights: the same names and layouts as its weight maps (models/hf_layout.py), but planned per tensor
  and converted shard by shard, not all transposed up front; `lm_head.weight` only when the
  embeddings are untied. Written with safetensors' numpy writer in float32 or bfloat16, sharded.
- generation_config.json stops on `<eos>` and `<end_of_turn>` (it had eos only, with fixed ids).
- Tokenizer: written from our SentencePiece proto (no Keras-Hub tokenizer object, which needs
  TensorFlow), with tokenizer.json converted by transformers and the chat template of training.
- Refused with a ValueError instead of written wrong: Gemma 3 without query/key norms or post norms,
  Gemma 3 with bidirectional attention (an embedding model), a Gemma with only some Gemma 2 features.
- The vocabulary is the embedding's row count; a tokenizer with fewer pieces (padded embeddings) is
  fine, one with more is refused.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
from keras import ops

from gemma_jax.compat.keras import stored_kernel
from gemma_jax.compat.keras_hub import gemma3_transformers_config
from gemma_jax.export.hf_tokenizer import write_hf_tokenizer
from gemma_jax.export.safetensors_shards import (
    DEFAULT_MAX_SHARD_SIZE,
    NUMPY_DTYPES,
    PlannedTensor,
    write_safetensors,
)
from gemma_jax.models.hf_layout import HF_MODULES, hf_weight
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import LORA_TARGETS, merged_copy

GEMMA_ROPE_THETA = 10_000.0  # Keras-Hub's Gemma 1/2 attention: fixed
GEMMA2_SLIDING_PERIOD = 2  # Gemma 2: sliding on even layers
GEMMA3_SLIDING_PERIOD = 6  # Gemma 3: five sliding layers, then one global
TRANSFORMERS_VERSION = "5.0.0"  # the oldest version the export was checked against


def _value(variable) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(variable.value) if hasattr(variable, "value") else variable)


def _is_gemma2(backbone) -> bool:
    """Whether a GemmaBackbone is a Gemma 2 (post norms, soft caps, sliding windows, other query scaling)."""
    post_norms = (backbone.use_post_attention_norm, backbone.use_post_ffw_norm)
    features = (
        *post_norms,
        backbone.attention_logit_soft_cap is not None,
        backbone.final_logit_soft_cap is not None,
        backbone.use_sliding_window_attention,
        not _query_head_dim_normalize(backbone),
    )
    if any(features) and not all(post_norms):
        raise ValueError(
            "this Gemma has some Gemma 2 features but not both post norms; transformers has no model for it"
        )
    return any(features)


def _query_head_dim_normalize(backbone) -> bool:
    """The query scaling the attention layers use (gemma-jax's keras_fixes set it on each layer)."""
    flags = {bool(block.attention.query_head_dim_normalize) for block in backbone.transformer_layers}
    if len(flags) != 1:
        raise ValueError("the decoder blocks scale queries differently; transformers has one setting per model")
    return flags.pop()


def _query_pre_attn_scalar(backbone) -> int:
    if _query_head_dim_normalize(backbone):
        return backbone.head_dim
    return backbone.hidden_dim // backbone.num_query_heads


def _common_config(model: LoadedModel, backbone, dtype: str) -> dict:
    tokenizer = model.tokenizer
    if tokenizer.vocabulary_size > backbone.vocabulary_size:
        raise ValueError(
            f"the tokenizer has {tokenizer.vocabulary_size} pieces but the model only {backbone.vocabulary_size} "
            "embeddings"
        )
    return {
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_query_heads,
        "num_key_value_heads": backbone.num_key_value_heads,
        "head_dim": backbone.head_dim,
        "rms_norm_eps": backbone.layer_norm_epsilon,
        "hidden_activation": "gelu_pytorch_tanh",  # Keras-Hub: gelu(approximate=True)
        "max_position_embeddings": model.context_length,
        "tie_word_embeddings": bool(backbone.token_embedding.tie_weights),
        "attention_bias": False,
        "attention_dropout": 0.0,
        "pad_token_id": tokenizer.pad_id,
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.eos_id,
        "query_pre_attn_scalar": _query_pre_attn_scalar(backbone),
        "dtype": dtype,
        "use_cache": True,
        "transformers_version": TRANSFORMERS_VERSION,
    }


def _gemma_config(model: LoadedModel, backbone, dtype: str) -> dict:
    config = _common_config(model, backbone, dtype)
    config.update(
        intermediate_size=backbone.intermediate_dim // 2,  # Keras-Hub counts both gating halves
        hidden_act="gelu_pytorch_tanh",
        rope_theta=GEMMA_ROPE_THETA,
        rope_parameters={"rope_type": "default", "rope_theta": GEMMA_ROPE_THETA},
    )
    if not _is_gemma2(backbone):
        config.pop("query_pre_attn_scalar")  # Gemma 1 always scales by head_dim
        return {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", **config}
    sliding = backbone.use_sliding_window_attention
    config.update(
        attn_logit_softcapping=backbone.attention_logit_soft_cap,
        final_logit_softcapping=backbone.final_logit_soft_cap,
        sliding_window=backbone.sliding_window_size if sliding else None,
        layer_types=[
            "sliding_attention" if sliding and i % GEMMA2_SLIDING_PERIOD == 0 else "full_attention"
            for i in range(backbone.num_layers)
        ],
    )
    return {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", **config}


def _rope(theta: float, factor: float) -> dict:
    if factor == 1.0:
        return {"rope_type": "default", "rope_theta": theta}
    return {"rope_type": "linear", "factor": factor, "rope_theta": theta}


def _gemma3_config(model: LoadedModel, backbone, dtype: str) -> dict:
    if backbone.vision_encoder is not None:
        raise ValueError("only text-only Gemma 3 models can be exported to transformers here")
    if getattr(backbone, "use_bidirectional_attention", False) or getattr(backbone, "is_embedding_model", False):
        raise ValueError("this Gemma 3 attends bidirectionally (an embedding model); it is not a causal LM")
    blocks = backbone.transformer_layers
    if not all(b.use_query_key_norm and b.use_post_attention_norm and b.use_post_ffw_norm for b in blocks):
        raise ValueError("transformers' Gemma 3 always has query/key norms and post norms; this model lacks some")
    config = gemma3_transformers_config(backbone)  # Keras-Hub's, then corrected (see the module docstring)
    config.pop("torch_dtype", None)
    config.update(_common_config(model, backbone, dtype))
    local = next((b for b in blocks if b.use_sliding_window_attention), None)
    full = next((b for b in blocks if not b.use_sliding_window_attention), None)
    local_rope = _rope(local.rope_wavelength, local.rope_scaling_factor) if local else _rope(10_000.0, 1.0)
    full_rope = _rope(full.rope_wavelength, full.rope_scaling_factor) if full else _rope(1_000_000.0, 1.0)
    sliding = backbone.use_sliding_window_attention
    config.update(
        attn_logit_softcapping=backbone.attention_logit_soft_cap,
        final_logit_softcapping=backbone.final_logit_soft_cap,
        sliding_window=backbone.sliding_window_size,
        layer_types=["sliding_attention" if b.use_sliding_window_attention else "full_attention" for b in blocks],
        rope_parameters={"sliding_attention": local_rope, "full_attention": full_rope},
        rope_theta=full_rope["rope_theta"],
        rope_local_base_freq=local_rope["rope_theta"],
        rope_scaling=None
        if full_rope["rope_type"] == "default"
        else {"rope_type": "linear", "factor": full_rope["factor"]},
        _sliding_window_pattern=GEMMA3_SLIDING_PERIOD if sliding else backbone.num_layers + 1,
    )
    return config


def hf_config(model: LoadedModel, backbone=None, dtype: str = "float32") -> dict:
    """config.json for `backbone` (default: the model's own) with the model's tokenizer and context length."""
    backbone = backbone if backbone is not None else model.backbone
    if type(backbone).__name__ == "Gemma3Backbone":
        return _gemma3_config(model, backbone, dtype)
    if type(backbone).__name__ == "GemmaBackbone":
        return _gemma_config(model, backbone, dtype)
    raise ValueError(f"cannot export a {type(backbone).__name__} to transformers; only Gemma 1, 2 and 3 backbones")


def _planned(name: str, variable, convert=None) -> PlannedTensor:
    shape = tuple(variable.shape)
    if convert is not None:
        shape = tuple(convert(np.broadcast_to(np.int8(0), shape)).shape)  # on a stand-in that allocates nothing
    return PlannedTensor(name, shape, lambda: convert(_value(variable)) if convert else _value(variable))


def hf_tensors(backbone) -> list[PlannedTensor]:
    """Every weight of a float Gemma backbone under its transformers name, in the HF [out, in] layouts."""
    gemma3 = type(backbone).__name__ == "Gemma3Backbone"
    gemma2 = not gemma3 and _is_gemma2(backbone)
    embedding = backbone.token_embedding
    tensors = [_planned("model.embed_tokens.weight", embedding.embeddings)]
    for i, block in enumerate(backbone.transformer_layers):
        prefix = f"model.layers.{i}."
        tensors.append(_planned(prefix + "input_layernorm.weight", block.pre_attention_norm.scale))
        for target, path in LORA_TARGETS.items():
            layer = block
            for attribute in path:
                layer = getattr(layer, attribute)
            if layer.quantization_mode is not None:
                raise ValueError(f"{layer.path} is quantized; export a merged_copy of the model")
            convert = functools.partial(hf_weight, target)
            tensors.append(_planned(f"{prefix}{HF_MODULES[target]}.weight", stored_kernel(layer), convert))
        if gemma3:
            tensors.append(_planned(prefix + "self_attn.q_norm.weight", block.attention.query_norm.scale))
            tensors.append(_planned(prefix + "self_attn.k_norm.weight", block.attention.key_norm.scale))
        if gemma2 or gemma3:
            tensors.append(_planned(prefix + "post_attention_layernorm.weight", block.post_attention_norm.scale))
            tensors.append(_planned(prefix + "pre_feedforward_layernorm.weight", block.pre_ffw_norm.scale))
            tensors.append(_planned(prefix + "post_feedforward_layernorm.weight", block.post_ffw_norm.scale))
        else:  # Gemma 1 names its pre-feed-forward norm post_attention_layernorm
            tensors.append(_planned(prefix + "post_attention_layernorm.weight", block.pre_ffw_norm.scale))
    tensors.append(_planned("model.norm.weight", backbone.layer_norm.scale))
    if not embedding.tie_weights:
        tensors.append(_planned("lm_head.weight", embedding.reverse_embeddings, np.transpose))
    return tensors


def generation_config(model: LoadedModel) -> dict:
    """generation_config.json: Gemma's special ids; generation stops at <eos> or <end_of_turn>."""
    tokenizer = model.tokenizer
    stops = [tokenizer.eos_id]
    if tokenizer.id_to_piece(tokenizer.end_of_turn_id) == "<end_of_turn>":
        stops.append(tokenizer.end_of_turn_id)
    return {
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": stops,
        "pad_token_id": tokenizer.pad_id,
        "transformers_version": TRANSFORMERS_VERSION,
    }


def write_transformers(
    model: LoadedModel,
    folder: Path,
    dtype: str = "float32",
    *,
    max_shard_size: int | str = DEFAULT_MAX_SHARD_SIZE,
    adapters: bool = True,
) -> list[str]:
    """Write `model` (LoRA folded in; `adapters=False`: the base it was added to) as a transformers folder.

    `dtype` is float32 or bfloat16. Returns the names of the files written.
    """
    if dtype not in NUMPY_DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {', '.join(NUMPY_DTYPES)}")
    folder = Path(folder)
    backbone = merged_copy(model.backbone, dtype=dtype, adapters=adapters)
    config = hf_config(dataclasses.replace(model, backbone=backbone), backbone, dtype)
    folder.mkdir(parents=True, exist_ok=True)
    files = write_safetensors(hf_tensors(backbone), folder, dtype, max_shard_size)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "generation_config.json").write_text(
        json.dumps(generation_config(model), indent=2) + "\n", encoding="utf-8"
    )
    files += ["config.json", "generation_config.json"]
    return files + write_hf_tokenizer(model.tokenizer, folder, model.context_length)
