"""Make a Hugging Face Gemma `config.json` safe to hand to Keras-Hub's converters.

Keras-Hub's transformers converters (keras_hub/src/utils/transformers/
convert_gemma.py, convert_gemma3.py) read `config.json` literally, but
`save_pretrained` writes nested configs as a diff against transformers'
defaults: `google/gemma-3-4b-it`'s `text_config` names only six keys, so the
converter fails on the missing `head_dim` (and would pick its own vocabulary
default where transformers uses 262208). We fill in transformers' defaults
first.

Keras-Hub's Gemma layers also hard-code choices that a config could vary (RoPE
bases, the local/global layer pattern, norm epsilon of Gemma 1/2 blocks, the
query scaling); a config that departs from them would load without error and
compute something else, so it is refused here with the reason.
"""

from __future__ import annotations

import copy
import math

from gemma_jax.models.sources.errors import ModelLoadError

# model_type -> our family name ("gemma": Gemma 1/2 layers, "gemma3").
HF_MODEL_FAMILIES = {"gemma": "gemma", "gemma2": "gemma", "gemma3_text": "gemma3", "gemma3": "gemma3"}

_COMMON_DEFAULTS = {
    "vocab_size": 256_000,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}

# transformers' own defaults (GemmaConfig, Gemma2Config, Gemma3TextConfig) for the keys the
# converters read; tests/models/test_source_hf_config.py checks them against transformers.
HF_DEFAULTS: dict[str, dict] = {
    "gemma": {
        **_COMMON_DEFAULTS,
        "hidden_size": 3072,
        "intermediate_size": 24576,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
    },
    "gemma2": {
        **_COMMON_DEFAULTS,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "query_pre_attn_scalar": 256,
        "sliding_window": 4096,
        "final_logit_softcapping": 30.0,
        "attn_logit_softcapping": 50.0,
    },
    "gemma3_text": {
        **_COMMON_DEFAULTS,
        "vocab_size": 262_208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "query_pre_attn_scalar": 256,
        "sliding_window": 4096,
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "use_bidirectional_attention": False,
    },
}

# RoPE bases and layer patterns Keras-Hub's GemmaBackbone / Gemma3Backbone build.
_KERAS_ROPE = {"gemma": {"default": 10_000.0}, "gemma2": {"default": 10_000.0}}
_KERAS_GEMMA3_ROPE = {"sliding_attention": 10_000.0, "full_attention": 1_000_000.0}


def _keras_layer_types(model_type: str, num_layers: int) -> list[str] | None:
    if model_type == "gemma2":  # GemmaBackbone: sliding on even layers
        return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(num_layers)]
    if model_type == "gemma3_text":  # Gemma3Backbone: 5 local layers, then 1 global
        return ["sliding_attention" if i % 6 < 5 else "full_attention" for i in range(num_layers)]
    return None


def text_config(config: dict) -> dict:
    """The language-model part of a config (multimodal Gemma 3 nests it in `text_config`)."""
    if config.get("model_type") == "gemma3":
        return config.get("text_config") or {}
    return config


def _rope_thetas(text: dict, model_type: str) -> dict[str, float]:
    """RoPE base per attention type, from either config spelling (transformers 4 or 5)."""
    params = text.get("rope_parameters") or {}
    if model_type == "gemma3_text":
        thetas = {
            "full_attention": text.get("rope_theta", 1_000_000.0),
            "sliding_attention": text.get("rope_local_base_freq", 10_000.0),
        }
        for kind in thetas:
            if isinstance(params.get(kind), dict) and "rope_theta" in params[kind]:
                thetas[kind] = params[kind]["rope_theta"]
        return thetas
    return {"default": params.get("rope_theta", text.get("rope_theta", 10_000.0))}


def _rope_types(text: dict, model_type: str) -> dict[str, str]:
    """RoPE scaling type per attention type ('default' when unscaled)."""
    params = text.get("rope_parameters") or {}
    if model_type != "gemma3_text":
        return {"default": params.get("rope_type", "default")}
    types = {"full_attention": (text.get("rope_scaling") or {}).get("rope_type", "default")}
    types["sliding_attention"] = "default"
    for kind in types:
        if isinstance(params.get(kind), dict):
            types[kind] = params[kind].get("rope_type", "default")
    return types


# Keras-Hub's Gemma 3 scales RoPE linearly only ({local,global}_rope_scaling_factor); Gemma 1/2 not at all.
_SUPPORTED_ROPE_TYPES = {
    "default": {"default"},
    "sliding_attention": {"default", "linear"},
    "full_attention": {"default", "linear"},
}


def _check(condition: bool, problem: str, problems: list[str]) -> None:
    if not condition:
        problems.append(problem)


def _validate(text: dict, model_type: str, path: str) -> None:
    """Refuse settings Keras-Hub's Gemma layers cannot express (they would load and compute wrongly)."""
    problems: list[str] = []
    heads, hidden, head_dim = text["num_attention_heads"], text["hidden_size"], text["head_dim"]
    _check(text.get("tie_word_embeddings", True) is not False, "untied input/output embeddings", problems)
    if model_type != "gemma3_text":
        _check(math.isclose(text["rms_norm_eps"], 1e-6), f"rms_norm_eps {text['rms_norm_eps']} (not 1e-6)", problems)
    if model_type in ("gemma2", "gemma3_text"):
        scalar = text.get("query_pre_attn_scalar")
        _check(
            scalar is None or scalar in (head_dim, hidden // heads),
            f"query_pre_attn_scalar {scalar} (Keras-Hub scales queries by head_dim {head_dim} "
            f"or hidden_size/num_attention_heads {hidden // heads})",
            problems,
        )
    _check(not text.get("use_bidirectional_attention"), "bidirectional attention (an embedding model)", problems)
    expected_rope = _KERAS_GEMMA3_ROPE if model_type == "gemma3_text" else _KERAS_ROPE[model_type]
    for kind, theta in _rope_thetas(text, model_type).items():
        _check(math.isclose(float(theta), expected_rope[kind]), f"rope_theta {theta} for {kind}", problems)
    for kind, rope_type in _rope_types(text, model_type).items():
        _check(rope_type in _SUPPORTED_ROPE_TYPES[kind], f"rope_type '{rope_type}' for {kind}", problems)
    expected_layers = _keras_layer_types(model_type, text["num_hidden_layers"])
    if expected_layers is not None:
        layer_types = text.get("layer_types")
        pattern = text.get("sliding_window_pattern", text.get("_sliding_window_pattern"))
        if layer_types is None and pattern is not None and model_type == "gemma3_text":
            layer_types = [
                "sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(text["num_hidden_layers"])
            ]
        _check(
            layer_types is None or list(layer_types) == expected_layers,
            f"layer_types {layer_types} (Keras-Hub builds {expected_layers})",
            problems,
        )
    if problems:
        raise ModelLoadError(
            f"'{path}' is a {model_type} checkpoint with settings Keras-Hub's Gemma layers do not support: "
            + "; ".join(problems)
        )


# Generous bounds (the largest Gemma, 27B: 62 layers, hidden 5376, feed-forward 21504, 262k tokens): a
# config.json past them is damaged or hostile, and checking its per-layer settings would build lists as
# long as its layer count.
_SIZE_BOUNDS = {
    "num_hidden_layers": 1024,
    "hidden_size": 65536,
    "intermediate_size": 1 << 20,
    "num_attention_heads": 1024,
    "num_key_value_heads": 1024,
    "head_dim": 4096,
    "vocab_size": 1 << 24,
}


def _check_bounds(text: dict, path: str) -> None:
    for key, bound in _SIZE_BOUNDS.items():
        value = text.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
            raise ModelLoadError(
                f"'{path}' has a config.json with {key}={value!r}; a Gemma model has a whole number from 1 to "
                f"{bound:,} there. The file is damaged: restore the config.json that came with the weights."
            )


def prepare_hf_config(config: dict, path: str) -> tuple[dict, str]:
    """A completed copy of `config` for Keras-Hub's converter, and our family name.

    Raises ModelLoadError for a model type that is not Gemma 1/2/3 or settings the
    Keras-Hub layers cannot reproduce.
    """
    model_type = config.get("model_type")
    if model_type not in HF_MODEL_FAMILIES:
        raise ModelLoadError(
            f"'{path}' holds a Hugging Face '{model_type}' model; gemma-jax loads Gemma, Gemma 2 and Gemma 3 "
            f"checkpoints (config.json model_type one of {', '.join(sorted(HF_MODEL_FAMILIES))})"
        )
    config = copy.deepcopy(config)
    if model_type == "gemma3":
        if not isinstance(config.get("text_config"), dict):
            config["text_config"] = {}
        text = config["text_config"]
        defaults_type = "gemma3_text"
    else:
        text, defaults_type = config, model_type
    for key, value in HF_DEFAULTS[defaults_type].items():
        text.setdefault(key, value)
    _check_bounds(text, path)
    _validate(text, defaults_type, path)
    return config, HF_MODEL_FAMILIES[model_type]
