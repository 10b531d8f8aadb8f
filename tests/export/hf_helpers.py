"""Tiny LoRA/QLoRA Gemmas with random non-zero adapters, and logits from Keras and transformers, for the HF tests."""

from __future__ import annotations

import numpy as np

from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import LORA_TARGETS, apply_lora, lora_layers
from gemma_jax.models.quantization import quantize_base

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "pack my box with five dozen liquor jugs",
    "héllo wörld ✓ ok 12345",
] * 30
RANK, ALPHA = 4, 8.0
TOLERANCE = 1e-3  # |logit| difference allowed between our float32 model and transformers'


def tiny_lora_model(arch: str, quantization: str | None = None, seed: int = 0) -> LoadedModel:
    """tiny:`arch` with rank-4 LoRA on every target and random non-zero B (trained-like adapters)."""
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS)
    if quantization:
        quantize_base(model.backbone, quantization)
    apply_lora(model.backbone, RANK, ALPHA, list(LORA_TARGETS), seed=seed)
    rng = np.random.RandomState(seed)
    for layer in lora_layers(model.backbone):
        layer.lora_kernel_b.assign(rng.normal(0.0, 0.05, layer.lora_kernel_b.shape).astype("float32"))
    return model


def random_ids(model: LoadedModel, shape=(2, 40), seed: int = 1) -> np.ndarray:
    """Token ids past the sliding window (16), so local and global attention both matter."""
    return np.random.RandomState(seed).randint(0, model.backbone.vocabulary_size, size=shape).astype("int32")


def keras_logits(backbone, ids: np.ndarray) -> np.ndarray:
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(backbone.token_embedding(hidden, reverse=True), dtype="float32")


def torch_logits(module, ids: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.tensor(ids, dtype=torch.long)).logits.float().numpy()


def load_hf(folder, dtype: str = "float32"):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=getattr(torch, dtype), attn_implementation="eager"
    ).eval()
