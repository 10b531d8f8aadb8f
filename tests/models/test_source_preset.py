"""Local Keras preset directories (save_to_preset) beyond tests/engine/test_model_loading.py:
outputs, vision presets, Keras-Hub's query-scaling bug, and presets that are not Gemma decoders."""

import json

import keras
import keras_hub
import numpy as np
import pytest
from model_fixtures import TEXTS, keras_logits, save_tiny_preset, token_ids

from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import ModelLoadError, describe_source, load_model
from gemma_jax.models.tokenizer import GemmaTextTokenizer

SMALL_GEMMA3 = {
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 1,
    "hidden_dim": 64,
    "intermediate_dim": 128,
    "head_dim": 16,
    "use_query_key_norm": True,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "sliding_window_size": 8,
}


def _with_tokenizer(directory, backbone, proto, family):
    model = LoadedModel(backbone, GemmaTextTokenizer(proto), "test", family, 1024)
    return save_tiny_preset(directory, model)


@pytest.mark.parametrize("arch", ["gemma2", "gemma3"])
def test_preset_gives_identical_logits(tmp_path, arch):
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS)
    preset = save_tiny_preset(tmp_path / "preset", model)
    assert describe_source(str(preset)) == "preset-dir"

    loaded = load_model(str(preset))

    ids = token_ids(model.tokenizer.proto)
    np.testing.assert_array_equal(keras_logits(loaded, ids), keras_logits(model, ids))
    assert loaded.final_logit_soft_cap == model.final_logit_soft_cap


def test_gemma3_preset_with_vision_encoder_loads_text_only(tmp_path):
    from keras_hub.src.models.gemma3.gemma3_vision_encoder import Gemma3VisionEncoder

    proto = load_model("tiny:gemma3", vocab_texts=TEXTS).tokenizer.proto
    keras.utils.set_random_seed(1)
    vision = Gemma3VisionEncoder(
        image_size=28, patch_size=14, num_heads=2, hidden_dim=16, num_layers=1, intermediate_dim=32, output_dim=64
    )
    vocab = GemmaTextTokenizer(proto).vocabulary_size
    full = keras_hub.models.Gemma3Backbone(vocabulary_size=vocab, image_size=28, vision_encoder=vision, **SMALL_GEMMA3)
    preset = _with_tokenizer(tmp_path / "preset", full, proto, "gemma3")

    loaded = load_model(str(preset))

    assert loaded.backbone.vision_encoder is None
    full_weights = {w.path: np.asarray(w.value) for w in full.weights}
    assert len(loaded.backbone.weights) < len(full.weights)
    for weight in loaded.backbone.weights:
        np.testing.assert_array_equal(np.asarray(weight.value), full_weights[weight.path])


def test_query_scaling_follows_the_config(tmp_path):
    """Keras-Hub's decoder blocks ignore query_head_dim_normalize=False (the Gemma 2 9B/27B setting);
    loading restores it, which changes the outputs whenever hidden_dim / heads != head_dim."""
    proto = load_model("tiny:gemma", vocab_texts=TEXTS).tokenizer.proto
    vocab = GemmaTextTokenizer(proto).vocabulary_size
    keras.utils.set_random_seed(2)
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=vocab,
        num_layers=2,
        num_query_heads=4,
        num_key_value_heads=1,
        hidden_dim=96,
        intermediate_dim=128,
        head_dim=16,
        query_head_dim_normalize=False,
    )
    preset = _with_tokenizer(tmp_path / "preset", backbone, proto, "gemma")

    loaded = load_model(str(preset))

    assert all(block.attention.query_head_dim_normalize is False for block in loaded.backbone.transformer_layers)
    plain = keras_hub.models.Backbone.from_preset(str(preset))
    assert all(block.attention.query_head_dim_normalize is True for block in plain.transformer_layers)
    ids = token_ids(proto)
    plain_model = LoadedModel(plain, loaded.tokenizer, "plain", "gemma", 1024)
    assert np.abs(keras_logits(loaded, ids) - keras_logits(plain_model, ids)).max() > 1e-3


def test_presets_that_are_not_gemma_decoders_are_refused(tmp_path):
    proto = load_model("tiny:gemma", vocab_texts=TEXTS).tokenizer.proto
    vocab = GemmaTextTokenizer(proto).vocabulary_size
    llama = keras_hub.models.LlamaBackbone(
        vocabulary_size=vocab,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=16,
        intermediate_dim=32,
    )
    llama.save_to_preset(str(tmp_path / "llama"))
    with pytest.raises(ModelLoadError, match="holds a LlamaBackbone, not a Gemma"):
        load_model(str(tmp_path / "llama"))

    embedder = keras_hub.models.Gemma3Backbone(
        vocabulary_size=vocab, use_bidirectional_attention=True, vision_encoder=None, image_size=None, **SMALL_GEMMA3
    )
    embedder.save_to_preset(str(tmp_path / "embedder"))
    with pytest.raises(ModelLoadError, match="embedding model"):
        load_model(str(tmp_path / "embedder"))


def test_directory_without_a_model_says_what_it_needs(tmp_path):
    (tmp_path / "config.json").write_text('{"something": 1}')
    with pytest.raises(ModelLoadError, match="save_to_preset.*save_pretrained"):
        load_model(str(tmp_path))
    assert describe_source(str(tmp_path)) == "unknown"


def test_a_preset_config_claiming_a_huge_model_is_refused(tmp_path):
    loaded = load_model("tiny:gemma3", vocab_texts=TEXTS)
    directory = tmp_path / "preset"
    _with_tokenizer(directory, loaded.backbone, loaded.tokenizer.proto, "gemma3")
    config = json.loads((directory / "config.json").read_text())
    config["config"].update(num_layers=10**6, hidden_dim=10**6)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="the config does not match the weights"):
        load_model(str(directory))
