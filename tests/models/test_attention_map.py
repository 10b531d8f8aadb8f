"""The attention view shows the model's own attention: every layer's and head's probabilities from
our decoder equal the softmax Keras-Hub's Gemma 3 attention layers apply in the backbone's forward
pass (captured from the layers themselves), causal, and confined to the window on sliding layers."""

from __future__ import annotations

import numpy as np
import pytest

from gemma_jax.models.attention_map import attention_map
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import load_model

TEXTS = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 20


@pytest.fixture(scope="module")
def model():
    model = load_model("tiny:gemma3", vocab_texts=TEXTS, seed=5)
    rng = np.random.default_rng(5)  # zero norm scales would make every position alike
    for variable in model.backbone.variables:
        if variable.path.endswith("scale"):
            variable.assign(rng.normal(0.0, 1.0, variable.shape).astype("float32"))
    return model


def _keras_attention(model, ids: list[int]) -> np.ndarray:
    """[layers, heads, tokens, tokens] softmax outputs of Keras-Hub's attention layers."""
    captured = []
    layers = model.backbone.transformer_layers
    originals = [layer.attention.softmax for layer in layers]
    for layer, softmax in zip(layers, originals, strict=True):
        layer.attention._use_fused_attention_op = lambda: False

        def record(logits, mask=None, softmax=softmax):
            out = softmax(logits, mask=mask)
            captured.append(np.asarray(out))
            return out

        layer.attention.softmax = record
    try:
        array = np.asarray([ids], np.int32)
        model.backbone({"token_ids": array, "padding_mask": np.ones_like(array)})
    finally:
        for layer, softmax in zip(layers, originals, strict=True):
            layer.attention.softmax = softmax
            del layer.attention._use_fused_attention_op
    return np.stack([c[0].reshape(-1, len(ids), len(ids)) for c in captured])  # [b,k,g,t,s] -> [heads,t,s]


def test_attention_is_the_layers_own(model):
    generator = Generator(model, max_length=256, weights="float32")
    prompt = " ".join(TEXTS[:4])
    pieces, ours = attention_map(generator, prompt, " the lazy dog")
    ids = [model.tokenizer.bos_id, *model.tokenizer.encode(prompt), *model.tokenizer.encode(" the lazy dog")]
    assert len(pieces) == len(ids) and ours.dtype == np.float16
    config = generator.config
    assert ours.shape == (config.num_layers, config.num_query_heads, len(ids), len(ids))
    reference = _keras_attention(model, ids)
    np.testing.assert_allclose(ours.astype(np.float32), reference, atol=2e-3)
    assert np.allclose(ours.astype(np.float32).sum(-1), 1.0, atol=1e-2)  # each row is a distribution
    assert not np.any(np.triu(ours.astype(np.float32), k=1))  # causal: nothing from the future
    for layer, window in enumerate(config.sliding_windows):
        if window is not None and window < len(ids):
            far = np.tril(np.ones((len(ids), len(ids)), bool), k=-window)
            assert not np.any(ours[layer][:, far]), f"layer {layer} looked past its window of {window}"
