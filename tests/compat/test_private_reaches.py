"""One guard per private third-party API that gemma_jax/compat reaches into.

Each test checks that the private name is still there with the signature we call
it with, and that our compat function still gives the result we rely on, on a
tiny model. A Keras or Keras-Hub upgrade that moves or changes one fails here,
by name, instead of silently changing training, export or loading.
"""

from __future__ import annotations

import inspect
import json
import random

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

from gemma_jax.compat import keras as keras_compat
from gemma_jax.compat import keras_hub as keras_hub_compat

HIDDEN, HEADS, HEAD_DIM = 64, 2, 16  # hidden/heads (32) != head_dim (16): the two query scalings differ
SHAPE = {
    "num_layers": 1,
    "num_query_heads": HEADS,
    "num_key_value_heads": 1,
    "hidden_dim": HIDDEN,
    "intermediate_dim": 64,
    "head_dim": HEAD_DIM,
}
VOCAB = 64


def _randomize(backbone: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    for weight in backbone.weights:
        weight.assign(rng.normal(0.0, 0.3, weight.shape).astype("float32"))
    return backbone


@pytest.fixture(scope="module")
def gemma() -> keras.Model:
    """A one-block Gemma 1 backbone (RoPE with reordered halves), random weights."""
    with keras_compat.variables_start_as_zeros():
        backbone = keras_hub.models.GemmaBackbone(vocabulary_size=VOCAB, dtype="float32", **SHAPE)
    return _randomize(backbone, 0)


@pytest.fixture(scope="module")
def gemma3() -> keras.Model:
    """A one-block Gemma 3 backbone (query/key norms, sliding window of 4), random weights."""
    with keras_compat.variables_start_as_zeros():
        backbone = keras_hub.models.Gemma3Backbone(
            vocabulary_size=VOCAB,
            dtype="float32",
            use_query_key_norm=True,
            use_post_ffw_norm=True,
            use_post_attention_norm=True,
            use_sliding_window_attention=True,
            sliding_window_size=4,
            text_only_model=True,
            vision_encoder=None,
            image_size=896,
            **SHAPE,
        )
    return _randomize(backbone, 1)


def _np(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def _parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def _x(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _dense(equation: str, output_shape, input_dim: int, seed: int = 0) -> keras.layers.EinsumDense:
    layer = keras.layers.EinsumDense(equation, output_shape=output_shape, dtype="float32")
    layer.build((1, 3, input_dim))
    layer.kernel.assign(_x(layer.kernel.shape, seed))
    return layer


# -- Keras --------------------------------------------------------------------------------------------


def test_keras_flatten_layers_walks_every_nested_layer(gemma3):
    """compat.keras.sublayers ← keras Layer._flatten_layers(include_self, recursive)."""
    assert _parameters(keras.layers.Layer._flatten_layers)[1:] == ["include_self", "recursive"]
    block = gemma3.transformer_layers[0]
    inner = keras_compat.sublayers(block, include_self=False)
    names = {layer.name for layer in inner}
    # the projections sit inside the attention layer, two levels below the backbone
    assert {"query", "key", "value", "attention_output", "ffw_gating", "ffw_gating_2", "ffw_linear"} <= names
    assert {"query_norm", "key_norm"} <= names
    assert block not in inner and len({id(layer) for layer in inner}) == len(inner)
    everything = keras_compat.sublayers(gemma3)
    assert everything[0] is gemma3 and block in everything and inner[0] in everything


def test_keras_einsum_dense_kernel_is_the_stored_base_without_lora():
    """compat.keras.stored_kernel ← EinsumDense._kernel (the public `kernel` adds LoRA)."""
    layer = _dense("btd,df->btf", (None, 8), 6)
    base = _np(layer.kernel)
    layer.enable_lora(2, lora_alpha=4.0)
    layer.lora_kernel_b.assign(_x(layer.lora_kernel_b.shape, 1))
    kernel = keras_compat.stored_kernel(layer)
    assert isinstance(kernel, keras.Variable) and kernel.path.endswith("/kernel")
    np.testing.assert_array_equal(_np(kernel), base)
    delta = 2.0 * _np(layer.lora_kernel_a) @ _np(layer.lora_kernel_b)
    np.testing.assert_allclose(_np(layer.kernel), base + delta, rtol=1e-6, atol=1e-6)
    kernel.assign(np.zeros_like(base))  # assignable: what merge/unmerge and PEFT folding do
    np.testing.assert_allclose(_np(layer.kernel), delta, rtol=1e-6, atol=1e-6)


def test_keras_int8_dequantization_matches_the_quantized_forward_pass():
    """compat.keras.dequantized_kernel (int8) ← EinsumDense._adjust_scale_for_dequant."""
    assert _parameters(keras.layers.EinsumDense._adjust_scale_for_dequant)[1:] == ["scale"]
    layer = _dense("btd,ndh->btnh", (None, 2, 4), 16)  # a 3-d kernel: the scale's layout needs adjusting
    float_kernel = _np(layer.kernel)
    layer.quantize("int8", config=keras.quantizers.Int8QuantizationConfig(activation_quantizer=None))
    kernel = keras_compat.dequantized_kernel(layer)
    assert kernel.shape == float_kernel.shape and kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, float_kernel, atol=np.abs(float_kernel).max() / 100)
    x = _x((1, 3, 16), 2)
    np.testing.assert_allclose(np.einsum("btd,ndh->btnh", x, kernel), _np(layer(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("block_size", [128])  # what quantization.py uses (-1: per channel)
def test_keras_int4_dequantization_matches_the_quantized_forward_pass(block_size):
    """compat.keras.dequantized_kernel (int4) ← EinsumDense._int4_unpacked_column_size, _int4_block_size and
    keras.src.quantizers.quantizers.dequantize_with_sz_map."""
    from keras.src.quantizers.quantizers import dequantize_with_sz_map

    assert _parameters(dequantize_with_sz_map) == ["weights_matrix", "scale", "zero", "g_idx", "group_axis"]
    layer = _dense("btd,df->btf", (None, 10), 256)
    float_kernel = _np(layer.kernel)
    config = keras.quantizers.Int4QuantizationConfig(activation_quantizer=None, block_size=block_size)
    layer.quantize("int4", config=config)
    assert layer._int4_unpacked_column_size == 10
    assert layer._int4_block_size == (None if block_size == -1 else block_size)
    kernel = keras_compat.dequantized_kernel(layer)
    assert kernel.shape == float_kernel.shape
    np.testing.assert_allclose(kernel, float_kernel, atol=np.abs(float_kernel).max() / 4)
    x = _x((1, 3, 256), 3)
    np.testing.assert_allclose(x @ kernel, _np(layer(x)), rtol=1e-4, atol=1e-3)


def test_keras_default_seed_generator_swap_makes_unseeded_initializers_repeatable():
    """compat.keras.default_seeds_from ← keras.src.random.seed_generator.python_random."""
    from keras.src.random import seed_generator

    assert seed_generator.python_random is random  # Keras draws default seeds from Python's shared `random`
    assert _parameters(seed_generator.make_default_seed) == []

    def build() -> list[np.ndarray]:
        layer = keras.layers.Dense(4, dtype="float32")  # no seed: Keras draws one
        layer.build((None, 3))
        return [_np(w) for w in layer.weights]

    with keras_compat.default_seeds_from(random.Random(7)):
        assert seed_generator.make_default_seed() == random.Random(7).randint(1, int(1e9))
    with keras_compat.default_seeds_from(random.Random(7)):
        first = build()
    random.random()  # another thread's draw from the shared generator in between
    with keras_compat.default_seeds_from(random.Random(7)):
        random.random()
        second = build()
    assert seed_generator.python_random is random  # restored
    np.testing.assert_array_equal(first[0], second[0])
    assert np.abs(first[0]).max() > 0
    with keras_compat.default_seeds_from(random.Random(8)):
        assert not np.array_equal(build()[0], first[0])


def test_keras_variable_initializer_hook_gives_zeros():
    """compat.keras.variables_start_as_zeros ← keras.Variable._initialize_with_initializer, _initialize, _shape,
    _dtype."""
    cls = keras.Variable
    assert _parameters(cls._initialize_with_initializer)[1:] == ["initializer"]
    assert _parameters(cls._initialize)[1:] == ["value"]
    assert keras_compat.zeros_hook_available(), "the JAX backend's Variable lacks the hooks: loading gets slow"
    patched_before = "_initialize_with_initializer" in cls.__dict__
    with keras_compat.variables_start_as_zeros():
        ones = keras.Variable(initializer=keras.initializers.Ones(), shape=(3, 4), dtype="bfloat16")
        dense = keras.layers.Dense(5, dtype="float32")
        dense.build((None, 7))
    assert ones._shape == (3, 4) and ones._dtype == "bfloat16"
    assert _np(ones).dtype.name == "bfloat16" and not _np(ones).astype(np.float32).any()
    assert not _np(dense.kernel).any() and dense.kernel.shape == (7, 5)
    assert ("_initialize_with_initializer" in cls.__dict__) == patched_before  # the patch is undone
    np.testing.assert_array_equal(_np(keras.Variable(initializer=keras.initializers.Ones(), shape=(2,))), [1, 1])


# -- Keras-Hub ----------------------------------------------------------------------------------------


def _rope_reference(x: np.ndarray, positions: np.ndarray, wavelength: float, interleave: bool) -> np.ndarray:
    """RoPE of [B, S, N, H] `x` at [B, S] `positions`: halves rotated; Gemma 1/2 interleave them afterwards."""
    half = x.shape[-1] // 2
    angle = positions[..., None, None] * wavelength ** (-np.arange(half) * 2 / x.shape[-1])
    first, second = x[..., :half], x[..., half:]
    rotated = (first * np.cos(angle) - second * np.sin(angle), second * np.cos(angle) + first * np.sin(angle))
    return np.stack(rotated, -1).reshape(x.shape) if interleave else np.concatenate(rotated, -1)


def test_keras_hub_gemma_apply_rope_rotates_at_packed_positions(gemma, gemma3):
    """compat.keras_hub.apply_rope ← CachedGemmaAttention._apply_rope(x, start_index, positions) (Gemma 1/2)."""
    from keras_hub.src.models.gemma.gemma_attention import CachedGemmaAttention

    assert _parameters(CachedGemmaAttention._apply_rope)[1:] == ["x", "start_index", "positions"]
    positions = np.array([[0, 1, 2, 0, 1, 2, 3, 0]], "int32")  # three packed segments
    x = _x((1, 8, HEADS, HEAD_DIM), 4)
    attention = gemma.transformer_layers[0].attention
    assert isinstance(attention, CachedGemmaAttention)
    ours = _np(keras_hub_compat.apply_rope(attention, x, positions))
    np.testing.assert_allclose(ours, _rope_reference(x, positions, 10_000.0, interleave=True), atol=1e-5)
    # Gemma 3 rotates with its public rope_layer, halves left in place.
    attention3 = gemma3.transformer_layers[0].attention
    ours3 = _np(keras_hub_compat.apply_rope(attention3, x, positions))
    np.testing.assert_allclose(ours3, _rope_reference(x, positions, attention3.rope_wavelength, False), atol=1e-5)


@pytest.mark.parametrize("family", ["gemma", "gemma3"])
def test_keras_hub_compute_attention_is_the_layers_own(family, request):
    """compat.keras_hub.compute_attention ← CachedGemma(3)Attention._compute_attention(q, k, v, attention_mask).

    Our packed path (projections, norms, RoPE, the private kernel) gives what the layer's public call does."""
    backbone = request.getfixturevalue(family)
    attention = backbone.transformer_layers[0].attention
    assert _parameters(type(attention)._compute_attention)[1:5] == ["q", "k", "v", "attention_mask"]
    length = 8  # past Gemma 3's sliding window of 4
    x = _x((2, length, HIDDEN), 5)
    mask = np.tril(np.ones((length, length), bool))[None].repeat(2, 0)
    expected = _np(attention(x, attention_mask=mask))
    positions = np.arange(length, dtype="int32")[None].repeat(2, 0)
    query, key = attention.query_dense(x), attention.key_dense(x)
    if family == "gemma3":
        query, key = attention.query_norm(query), attention.key_norm(key)
    query = keras_hub_compat.apply_rope(attention, query, positions)
    key = keras_hub_compat.apply_rope(attention, key, positions)
    output = keras_hub_compat.compute_attention(attention, query, key, attention.value_dense(x), mask)
    np.testing.assert_allclose(_np(attention.output_dense(output)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", ["gemma", "gemma3"])
def test_keras_hub_query_scaling_flag_is_read_at_call_time(family, request):
    """compat.keras_hub.set_query_head_dim_normalize ← the attention layer's `query_head_dim_normalize` attribute."""
    attention = request.getfixturevalue(family).transformer_layers[0].attention
    assert "query_head_dim_normalize" in inspect.signature(type(attention)).parameters
    length = 5
    q, k, v = (_x((1, length, n, HEAD_DIM), s) for s, n in ((6, HEADS), (7, 1), (8, 1)))
    mask = np.tril(np.ones((length, length), bool))[None]
    try:
        assert keras_hub_compat.set_query_head_dim_normalize(attention, False)
        by_hidden = _np(keras_hub_compat.compute_attention(attention, q, k, v, mask))
        assert keras_hub_compat.set_query_head_dim_normalize(attention, True)
        # 1/sqrt(hidden/heads) is 1/sqrt(head_dim) with the queries scaled by sqrt(head_dim / (hidden/heads))
        rescaled = q * np.float32(np.sqrt(HEAD_DIM / (HIDDEN // HEADS)))
        same = _np(keras_hub_compat.compute_attention(attention, rescaled, k, v, mask))
        by_head_dim = _np(keras_hub_compat.compute_attention(attention, q, k, v, mask))
    finally:
        attention.query_head_dim_normalize = True
    np.testing.assert_allclose(by_hidden, same, rtol=1e-5, atol=1e-6)
    assert np.abs(by_hidden - by_head_dim).max() > 1e-3
    assert not keras_hub_compat.set_query_head_dim_normalize(keras.layers.Dense(2), False)


def test_keras_hub_transformers_loader_reads_a_hugging_face_checkpoint(gemma, tmp_path):
    """compat.keras_hub.transformers_backbone / transformers_tokenizer ←
    keras_hub.src.utils.transformers.preset_loader.TransformersPresetLoader(preset, config)."""
    from keras_hub.src.utils.transformers.preset_loader import TransformersPresetLoader
    from safetensors.numpy import save_file

    from gemma_jax.export.transformers_export import hf_tensors
    from gemma_jax.models.sources.hf_config import prepare_hf_config
    from gemma_jax.models.tiny_vocab import train_tiny_vocab

    assert _parameters(TransformersPresetLoader) == ["preset", "config"]
    for method in ("check_backbone_class", "load_backbone", "load_tokenizer"):
        assert callable(getattr(TransformersPresetLoader, method))
    save_file(
        {t.name: np.ascontiguousarray(t.value(), np.float32) for t in hf_tensors(gemma)}, tmp_path / "model.safetensors"
    )
    proto = train_tiny_vocab(["the quick brown fox jumps over the lazy dog"] * 20, vocab_size=384)  # its own size
    (tmp_path / "tokenizer.model").write_bytes(proto)
    raw = {
        "model_type": "gemma",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "intermediate_size": SHAPE["intermediate_dim"] // 2,
        "num_hidden_layers": 1,
        "num_attention_heads": HEADS,
        "num_key_value_heads": 1,
        "head_dim": HEAD_DIM,
    }
    (tmp_path / "config.json").write_text(json.dumps(raw))
    config, _ = prepare_hf_config(raw, str(tmp_path))
    with keras_compat.variables_start_as_zeros():
        loaded = keras_hub_compat.transformers_backbone(str(tmp_path), config, dtype="float32")
    assert type(loaded) is type(gemma) and len(loaded.weights) == len(gemma.weights)
    for ours, theirs in zip(loaded.weights, gemma.weights):
        np.testing.assert_array_equal(_np(ours), _np(theirs), err_msg=ours.path)
    tokenizer = keras_hub_compat.transformers_tokenizer(str(tmp_path), config, keras_hub.models.GemmaTokenizer)
    assert isinstance(tokenizer, keras_hub.models.GemmaTokenizer) and tokenizer.proto == proto


def test_keras_hub_gemma3_transformers_config_describes_the_backbone(gemma3):
    """compat.keras_hub.gemma3_transformers_config ←
    keras_hub.src.utils.transformers.export.gemma3.get_gemma3_config(backbone)."""
    from keras_hub.src.utils.transformers.export.gemma3 import get_gemma3_config

    assert _parameters(get_gemma3_config) == ["backbone"]
    config = keras_hub_compat.gemma3_transformers_config(gemma3)
    expected = {
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "num_hidden_layers": 1,
        "num_attention_heads": HEADS,
        "num_key_value_heads": 1,
        "head_dim": HEAD_DIM,
        "intermediate_size": SHAPE["intermediate_dim"],
    }
    assert {key: config.get(key) for key in expected} == expected


# -- Orbax (public API since the move off `_src`; guards the ordering checkpoint_store relies on) ----------


def test_orbax_best_n_reversed_keeps_the_lowest_eval_loss():
    """checkpoint_store's keep_best: BestN over eval_loss with reverse=True keeps the lowest loss."""
    import datetime
    from types import SimpleNamespace

    from orbax.checkpoint.checkpoint_managers import preservation_policy as policies

    now = datetime.datetime.now(datetime.UTC)
    losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: None}  # PolicyCheckpointInfo is a protocol: step, metrics, time
    checkpoints = [
        SimpleNamespace(step=s, time=now, metrics=None if m is None else {"eval_loss": m}) for s, m in losses.items()
    ]
    best = policies.BestN(
        get_metric_fn=lambda m: m["eval_loss"], reverse=True, n=1, keep_checkpoints_without_metrics=False
    )
    context = policies.PreservationContext()
    assert list(best.should_preserve(checkpoints, context=context)) == [False, True, False, False]
    keep = policies.AnyPreservationPolicy([policies.LatestN(n=1), best])
    assert list(keep.should_preserve(checkpoints, context=context)) == [False, True, False, True]


def test_keras_hub_sliding_window_mask_is_the_layers_own_band(gemma3, gemma):
    """compat.keras_hub.sliding_window_mask ← CachedGemma3Attention._mask_sliding_window(attention_mask)."""
    attention = gemma3.transformer_layers[0].attention
    assert _parameters(type(attention)._mask_sliding_window)[1] == "attention_mask"
    length = 8
    causal = np.tril(np.ones((length, length), bool))[None]
    band = _np(keras_hub_compat.sliding_window_mask(attention, causal))[0]
    distance = np.arange(length)[:, None] - np.arange(length)[None, :]
    np.testing.assert_array_equal(band, (distance >= 0) & (distance < 4))  # sliding_window_size=4
    plain = gemma.transformer_layers[0].attention  # no sliding window: the mask comes back as it was
    assert keras_hub_compat.sliding_window_mask(plain, causal) is causal
