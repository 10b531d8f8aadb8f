"""Load a local model directory: a Keras preset (`save_to_preset`) or a Hugging Face checkpoint.

Both go through Keras-Hub: presets through `Backbone.from_preset`, Hugging Face
directories through Keras-Hub's transformers converter. That converter is
reached through `TransformersPresetLoader(path, config)` (internal to
Keras-Hub, the class `from_preset` itself picks for a `config.json` with a
`model_type`) so that it reads the completed config from hf_config.py instead
of the file. Weights are read right after the backbone is built, so it is
built under `skip_random_init()`.

Vision towers are dropped: gemma-jax fine-tunes text, and a Gemma 3 vision
encoder would only add frozen weights (and optimizer state under full
fine-tuning) that no text token reaches.
"""

from __future__ import annotations

import dataclasses
import json
import os

from gemma_jax.models.architectures import CONTEXT_LENGTH
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.sources.claimed_size import check_claimed_size, hf_shape
from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.hf_config import prepare_hf_config
from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes
from gemma_jax.models.sources.kinds import local_dir_kind
from gemma_jax.models.tokenizer import GemmaTextTokenizer
from gemma_jax.models.variant_shape import GemmaShape

PRESET_FILES_HINT = "config.json, model.weights.h5 and tokenizer.json as written by save_to_preset"
HF_FILES_HINT = (
    "config.json with a Gemma model_type, model.safetensors (or model.safetensors.index.json and its shards) "
    "and tokenizer.model, as written by save_pretrained"
)
# Keras-Hub backbone class (config.json registered_name) -> our family name.
_PRESET_FAMILIES = {"keras_hub>GemmaBackbone": "gemma", "keras_hub>Gemma3Backbone": "gemma3"}
_TEXT_ONLY = {"vision_encoder": None, "image_size": None}


def _read_config(path: str) -> dict:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as file:
        return json.load(file)


def _reject_embedding_model(config: dict, path: str) -> None:
    if config.get("is_embedding_model") or config.get("use_bidirectional_attention"):
        raise ModelLoadError(f"'{path}' is an embedding model (bidirectional attention); give a causal Gemma model")


def check_model_config(config: dict, where: str) -> str:
    """Our family name for a `config.json`, or ModelLoadError unless it is a Gemma 1/2/3 text model.

    Hub sources call this on config.json alone, before downloading the weights.
    """
    if "model_type" in config:
        return prepare_hf_config(config, where)[1]
    if "registered_name" not in config:
        raise ModelLoadError(f"'{where}' has a config.json that is neither a Keras preset's nor a transformers model's")
    family = _PRESET_FAMILIES.get(config["registered_name"])
    if family is None:
        name = str(config["registered_name"]).removeprefix("keras_hub>")
        raise ModelLoadError(f"'{where}' holds a {name}, not a Gemma, Gemma 2 or Gemma 3 model")
    _reject_embedding_model(config.get("config") or {}, where)
    return family


def _load_keras_preset(path: str, dtype: str):
    import keras_hub

    from gemma_jax.models.gguf import skip_random_init

    config = _read_config(path)
    family = check_model_config(config, path)
    backbone_config = config.get("config") or {}
    class_name = str(config["registered_name"]).removeprefix("keras_hub>")
    shape = GemmaShape.from_keras_hub_config(class_name, backbone_config, CONTEXT_LENGTH[family])
    check_claimed_size(path, dataclasses.replace(shape, vision_encoder=False), dtype)
    overrides = _TEXT_ONLY if family == "gemma3" and backbone_config.get("vision_encoder") else {}
    with skip_random_init():  # every weight is read from the preset right after
        backbone = keras_hub.models.Backbone.from_preset(path, dtype=dtype, **overrides)
    proto = keras_hub.tokenizers.Tokenizer.from_preset(path).proto
    return backbone, proto, family


def _require_hf_files(path: str, family: str) -> None:
    names = set(os.listdir(path))
    if not names & {"model.safetensors", "model.safetensors.index.json"}:
        found = ", ".join(sorted(n for n in names if n.endswith((".bin", ".pt", ".pth", ".gguf")))) or "none"
        raise ModelLoadError(
            f"'{path}' has no safetensors weights (weight files found: {found}); it should hold {HF_FILES_HINT} "
            "(re-save PyTorch .bin weights with transformers' save_pretrained, which writes safetensors)"
        )
    tokenizers = {"tokenizer.model", "tokenizer.json"} if family == "gemma3" else {"tokenizer.model"}
    if not names & tokenizers:
        raise ModelLoadError(
            f"'{path}' has no tokenizer ({' or '.join(sorted(tokenizers))}); copy it from the model's original "
            "repository next to config.json"
        )


def _load_hf_dir(path: str, dtype: str):
    import keras_hub

    from gemma_jax.compat.keras_hub import transformers_backbone, transformers_tokenizer
    from gemma_jax.models.gguf import skip_random_init

    config, family = prepare_hf_config(_read_config(path), path)
    _require_hf_files(path, family)
    check_claimed_size(path, hf_shape(config), dtype)
    overrides = _TEXT_ONLY if config["model_type"] == "gemma3" else {}
    with skip_random_init():  # every weight is read from the safetensors right after
        backbone = transformers_backbone(path, config, dtype=dtype, **overrides)
    tokenizer_class = keras_hub.models.Gemma3Tokenizer if family == "gemma3" else keras_hub.models.GemmaTokenizer
    proto = transformers_tokenizer(path, config, tokenizer_class).proto
    return backbone, proto, family


def load_local_dir(path: str, dtype: str, source: str | None = None) -> LoadedModel:
    """Load the Keras preset or Hugging Face checkpoint in directory `path`."""
    kind = local_dir_kind(path)
    if kind == "unknown":
        raise ModelLoadError(
            f"'{path}' is not a model directory: a Keras preset holds {PRESET_FILES_HINT}; "
            f"a Hugging Face checkpoint holds {HF_FILES_HINT}"
        )
    hint = HF_FILES_HINT if kind == "hf-dir" else PRESET_FILES_HINT
    try:
        backbone, proto, family = _load_hf_dir(path, dtype) if kind == "hf-dir" else _load_keras_preset(path, dtype)
    except ModelLoadError:
        raise
    except Exception as error:  # Keras-Hub, h5py and safetensors raise many types for a bad directory
        what = "Hugging Face checkpoint" if kind == "hf-dir" else "Keras preset directory"
        raise ModelLoadError(
            f"'{path}' is not a loadable {what} ({type(error).__name__}: {error}); it should hold {hint}"
        ) from error
    apply_keras_hub_fixes(backbone)
    return LoadedModel(backbone, GemmaTextTokenizer(proto), source or path, family, CONTEXT_LENGTH[family])
