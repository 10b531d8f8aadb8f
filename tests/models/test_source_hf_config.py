"""The Hugging Face config defaults we fill in are transformers' own, and unsupported settings are refused."""

import pytest

from gemma_jax.models.sources.errors import ModelLoadError
from gemma_jax.models.sources.hf_config import HF_DEFAULTS, prepare_hf_config

CONFIG_CLASSES = {"gemma": "GemmaConfig", "gemma2": "Gemma2Config", "gemma3_text": "Gemma3TextConfig"}


@pytest.mark.parametrize("model_type", sorted(HF_DEFAULTS))
def test_defaults_are_transformers_defaults(model_type):
    import transformers

    reference = getattr(transformers, CONFIG_CLASSES[model_type])()
    for key, value in HF_DEFAULTS[model_type].items():
        assert getattr(reference, key) == value, f"{model_type}.{key}"


def test_sparse_multimodal_config_is_completed_and_input_untouched():
    config = {
        "model_type": "gemma3",
        "text_config": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "num_hidden_layers": 34,
            "sliding_window": 1024,
        },
        "vision_config": {"hidden_size": 1152},
    }
    completed, family = prepare_hf_config(config, "google/gemma-3-4b-it")
    assert family == "gemma3"
    text = completed["text_config"]
    assert (text["head_dim"], text["num_attention_heads"], text["vocab_size"]) == (256, 8, 262_208)
    assert text["sliding_window"] == 1024 and "head_dim" not in config["text_config"]


def test_transformers_4_spellings_are_read():
    """config.json from transformers 4 names RoPE bases rope_theta / rope_local_base_freq and the pattern."""
    base = {"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 12, "sliding_window_pattern": 6}
    prepare_hf_config({**base, "rope_theta": 1_000_000, "rope_local_base_freq": 10_000}, "ok")
    with pytest.raises(ModelLoadError, match="rope_theta 20000 for sliding_attention"):
        prepare_hf_config({**base, "rope_local_base_freq": 20_000}, "x")
    with pytest.raises(ModelLoadError, match="layer_types"):
        prepare_hf_config({**base, "sliding_window_pattern": 4}, "x")
    with pytest.raises(ModelLoadError, match="rope_type 'yarn'"):
        prepare_hf_config({**base, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}, "x")
    prepare_hf_config({**base, "rope_scaling": {"rope_type": "linear", "factor": 8.0}}, "ok")


def test_gemma2_layer_pattern_and_norm_epsilon_are_checked():
    base = {"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 2}
    with pytest.raises(ModelLoadError, match="layer_types"):
        prepare_hf_config({**base, "layer_types": ["full_attention", "sliding_attention"]}, "x")
    with pytest.raises(ModelLoadError, match="rms_norm_eps 1e-05"):
        prepare_hf_config({**base, "rms_norm_eps": 1e-5}, "x")
    with pytest.raises(ModelLoadError, match="untied"):
        prepare_hf_config({**base, "tie_word_embeddings": False}, "x")
    with pytest.raises(ModelLoadError, match="embedding model"):
        prepare_hf_config({**base, "model_type": "gemma3_text", "use_bidirectional_attention": True}, "x")
