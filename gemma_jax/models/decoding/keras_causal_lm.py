"""Keras-Hub's own CausalLM around a loaded backbone: the reference our decoder is checked and timed against."""

from __future__ import annotations

import keras_hub

from gemma_jax.models.loaded_model import LoadedModel


def keras_causal_lm(model: LoadedModel, sequence_length: int) -> keras_hub.models.CausalLM:
    """Gemma3CausalLM or GemmaCausalLM with a preprocessor for `model`'s vocabulary."""
    if model.family == "gemma3":
        tokenizer = keras_hub.models.Gemma3Tokenizer(proto=model.tokenizer.proto, has_vision_tokens=False)
        preprocessor = keras_hub.models.Gemma3CausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
        return keras_hub.models.Gemma3CausalLM(backbone=model.backbone, preprocessor=preprocessor)
    tokenizer = keras_hub.models.GemmaTokenizer(proto=model.tokenizer.proto)
    preprocessor = keras_hub.models.GemmaCausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    return keras_hub.models.GemmaCausalLM(backbone=model.backbone, preprocessor=preprocessor)
