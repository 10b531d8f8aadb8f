"""Packed attention with bf16 operands and float32 sums follows the layer's own kernel in float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import keras_hub
import numpy as np
import pytest

from gemma_jax.compat import keras as keras_compat
from gemma_jax.compat.keras_hub import compute_attention
from gemma_jax.cpu_features import BF16_UNITS_OVERRIDE
from gemma_jax.train.packed_attention import packed_attention
from gemma_jax.train.packed_decoder import segment_causal_mask

HEADS, HEAD_DIM, LENGTH = 4, 16, 12
SHAPE = {
    "num_layers": 1,
    "num_query_heads": HEADS,
    "num_key_value_heads": 2,
    "hidden_dim": 64,
    "intermediate_dim": 64,
    "head_dim": HEAD_DIM,
    "vocabulary_size": 64,
    "dtype": "bfloat16",
}


def _gemma2_like() -> keras.Model:
    """Logit soft cap, a sliding window shorter than the rows, queries scaled by hidden/heads."""
    return keras_hub.models.GemmaBackbone(
        attention_logit_soft_cap=5.0,
        use_sliding_window_attention=True,
        sliding_window_size=5,
        query_head_dim_normalize=False,
        use_post_ffw_norm=True,
        use_post_attention_norm=True,
        **SHAPE,
    )


def _gemma3() -> keras.Model:
    return keras_hub.models.Gemma3Backbone(
        use_query_key_norm=True,
        use_sliding_window_attention=True,
        sliding_window_size=5,
        text_only_model=True,
        vision_encoder=None,
        image_size=896,
        **SHAPE,
    )


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(2, LENGTH, HEADS, HEAD_DIM)).astype("float32")
    k, v = (rng.normal(size=(2, LENGTH, 2, HEAD_DIM)).astype("float32") for _ in range(2))
    segments = np.array([[1] * 7 + [2] * 4 + [0], [1] * LENGTH], "int32")  # two packed examples and padding
    return q, k, v, segment_causal_mask(jnp.asarray(segments))


@pytest.fixture(params=["gemma2_like", "gemma3"])
def attention(request):
    with keras_compat.variables_start_as_zeros():
        backbone = _gemma2_like() if request.param == "gemma2_like" else _gemma3()
    return backbone.transformer_layers[0].attention


def _loss(function):
    def loss(q, k, v, mask):
        out = function(q, k, v, mask).astype(jnp.float32)
        return jnp.sum(jnp.sin(out) * jnp.arange(out.size, dtype=jnp.float32).reshape(out.shape) / out.size)

    return jax.value_and_grad(loss, (0, 1, 2))


def test_bf16_with_float32_sums_follows_the_layers_kernel_in_float32(attention, monkeypatch):
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1")
    q, k, v, mask = _inputs()
    reference = compute_attention(attention, jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), mask)
    low = [jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)]
    ours = packed_attention(attention, *low, mask)
    assert ours.dtype == jnp.bfloat16 and ours.shape == reference.shape
    np.testing.assert_allclose(np.asarray(ours, np.float32), np.asarray(reference), atol=0.05)
    (ours_loss, ours_grads) = _loss(lambda *a: packed_attention(attention, *a))(*low, mask)
    (ref_loss, ref_grads) = _loss(lambda *a: compute_attention(attention, *a))(*map(jnp.asarray, (q, k, v)), mask)
    np.testing.assert_allclose(float(ours_loss), float(ref_loss), rtol=0.02, atol=0.02)
    for mine, theirs in zip(ours_grads, ref_grads):
        assert mine.dtype == jnp.bfloat16
        scale = float(jnp.abs(theirs).max())
        np.testing.assert_allclose(np.asarray(mine, np.float32), np.asarray(theirs), atol=0.03 * scale)


def test_the_sliding_window_and_segments_are_kept(attention, monkeypatch):
    """Changing a key outside a query's segment or window leaves that query's output alone."""
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "1")
    q, k, v, mask = _inputs(1)
    low = [jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)]
    before = np.asarray(packed_attention(attention, *low, mask), np.float32)
    changed = v.copy()
    changed[0, 0] += 10.0  # row 0, position 0: segment 1, outside the window of positions >= 5
    after = np.asarray(
        packed_attention(attention, low[0], low[1], jnp.asarray(changed, jnp.bfloat16), mask), np.float32
    )
    moved = np.abs(after - before)[0].max(axis=(1, 2)) > 0
    assert moved.tolist() == [True] * 5 + [False] * (LENGTH - 5)


def test_without_bf16_units_the_layers_own_kernel_runs(attention, monkeypatch):
    monkeypatch.setenv(BF16_UNITS_OVERRIDE, "0")
    q, k, v, mask = (jnp.asarray(a, jnp.bfloat16) if a.dtype == np.float32 else a for a in _inputs())
    np.testing.assert_array_equal(
        np.asarray(packed_attention(attention, q, k, v, mask), np.float32),
        np.asarray(compute_attention(attention, q, k, v, mask), np.float32),
    )
