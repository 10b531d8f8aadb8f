"""Tiny model directories written by the libraries themselves, for the model-source tests.

- Keras presets: a tiny random-init backbone and tokenizer through `save_to_preset`;
- Hugging Face checkpoints: transformers' own Gemma / Gemma 2 / Gemma 3 classes with
  random weights through `save_pretrained`, plus the SentencePiece model and the
  tokenizer files transformers writes for it.
"""

from __future__ import annotations

import functools
import json
import os
import socket
from pathlib import Path

import numpy as np

from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.tiny_vocab import train_tiny_vocab

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "pack my box with five dozen liquor jugs",
    "how vexingly quick daft zebras jump",
] * 30
PROMPT = "the lazy fox packs five dozen jugs while quick zebras jump over my box, " * 3


@functools.lru_cache(maxsize=1)
def tiny_proto() -> bytes:
    return train_tiny_vocab(TEXTS, vocab_size=384)


def token_ids(proto: bytes, length: int = 24) -> np.ndarray:
    """[1, length] ids: <bos> and the prompt's tokens, longer than the tiny sliding windows (8)."""
    import sentencepiece as spm

    ids = [2] + spm.SentencePieceProcessor(model_proto=proto).encode(PROMPT)
    assert len(ids) >= length, "the prompt is too short for the requested length"
    return np.asarray([ids[:length]], dtype="int32")


def keras_logits(model: LoadedModel, ids: np.ndarray) -> np.ndarray:
    """[1, S, vocab] float32 logits from the loaded Keras-Hub backbone (final soft cap included)."""
    hidden = model.backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(model.backbone.token_embedding(hidden, reverse=True), dtype="float32")


def save_tiny_preset(directory: Path, model: LoadedModel) -> Path:
    """Write `model` (backbone and tokenizer) as a Keras preset with `save_to_preset`."""
    import keras_hub

    model.backbone.save_to_preset(str(directory))
    if model.family == "gemma3":
        tokenizer = keras_hub.models.Gemma3Tokenizer(proto=model.tokenizer.proto, has_vision_tokens=False)
    else:
        tokenizer = keras_hub.models.GemmaTokenizer(proto=model.tokenizer.proto)
    tokenizer.save_to_preset(str(directory))
    return directory


# --- Hugging Face checkpoints --------------------------------------------------------------------

_TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "num_hidden_layers": 2,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": 2,
}
# Variants: (transformers config class, model class, config overrides).
HF_VARIANTS = {
    "gemma": ("GemmaConfig", "GemmaForCausalLM", {}),
    # Gemma 2: both soft caps, a sliding window shorter than the test sequence, queries scaled by head_dim.
    "gemma2": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {
            "sliding_window": 8,
            "query_pre_attn_scalar": 16,
            "attn_logit_softcapping": 50.0,
            "final_logit_softcapping": 30.0,
        },
    ),
    # Gemma 2 27B style: queries scaled by hidden_size / num_attention_heads (96 / 4), not head_dim.
    "gemma2_hidden_scaled": (
        "Gemma2Config",
        "Gemma2ForCausalLM",
        {"hidden_size": 96, "sliding_window": 8, "query_pre_attn_scalar": 24},
    ),
    # Gemma 3: 6 layers (5 local, 1 global), window 8, query/key norms, two RoPE bases.
    "gemma3_text": (
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        {"num_hidden_layers": 6, "sliding_window": 8, "query_pre_attn_scalar": 16},
    ),
}


def _randomize(model, seed: int) -> None:
    """Normal weights everywhere, norms included (transformers starts Gemma norms at zero)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            scale = 0.3 if "norm" in name else 0.1
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)


def _write_tokenizer(directory: Path, proto: bytes) -> None:
    """tokenizer.model, and the tokenizer.json / tokenizer_config.json transformers derives from it."""
    import transformers

    (directory / "tokenizer.model").write_bytes(proto)
    transformers.GemmaTokenizer.from_pretrained(str(directory)).save_pretrained(str(directory))


def write_hf_checkpoint(directory: Path, variant: str, proto: bytes, seed: int = 0):
    """Save a random-init transformers model of `variant` (see HF_VARIANTS); returns the eval-mode model."""
    import transformers

    config_name, model_name, overrides = HF_VARIANTS[variant]
    config = getattr(transformers, config_name)(vocab_size=len_proto(proto), **{**_TINY, **overrides})
    config._attn_implementation = "eager"  # the reference implementation (soft caps need it)
    model = getattr(transformers, model_name)(config).eval()
    _randomize(model, seed)
    model.save_pretrained(str(directory))
    _write_tokenizer(directory, proto)
    return model


def write_hf_multimodal_gemma3(directory: Path, proto: bytes, seed: int = 0, **text_overrides):
    """A Gemma3ForConditionalGeneration (tiny SigLIP tower) as google/gemma-3-4b-it is laid out."""
    import transformers

    text = {**_TINY, **HF_VARIANTS["gemma3_text"][2], "vocab_size": len_proto(proto), **text_overrides}
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
        "vision_use_head": False,
    }
    config = transformers.Gemma3Config(
        text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=5
    )
    config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    model = transformers.Gemma3ForConditionalGeneration(config).eval()
    _randomize(model, seed)
    model.save_pretrained(str(directory))
    _write_tokenizer(directory, proto)
    return model


def len_proto(proto: bytes) -> int:
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=proto).get_piece_size()


def hf_logits(model, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor(ids, dtype=torch.long)).logits.float().numpy()


def rewrite_config(directory: Path, edit) -> None:
    """Apply `edit(config_dict)` to the checkpoint's config.json in place."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config, indent=2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def isolated_hub_caches(monkeypatch, tmp_path: Path) -> None:
    """Point every hub client and our own cache at empty folders under tmp_path."""
    for name, sub in (
        ("GEMMA_JAX_CACHE", "gemma_jax"),
        ("KAGGLEHUB_CACHE", "kagglehub"),
        ("HF_HOME", "hf"),
        ("HF_HUB_CACHE", os.path.join("hf", "hub")),
        ("CLOUDSDK_CONFIG", "gcloud"),
        ("KAGGLE_CONFIG_DIR", "kaggle"),
    ):
        monkeypatch.setenv(name, str(tmp_path / sub))
