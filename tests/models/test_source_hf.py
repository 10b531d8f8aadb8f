"""Local Hugging Face checkpoints, written by transformers' own classes, load with transformers' logits."""

import json

import numpy as np
import pytest
from model_fixtures import (
    HF_VARIANTS,
    hf_logits,
    keras_logits,
    rewrite_config,
    tiny_proto,
    token_ids,
    write_hf_checkpoint,
    write_hf_multimodal_gemma3,
)

from gemma_jax.models.loading import ModelLoadError, describe_source, load_model

TOLERANCE = 1e-4


def assert_same_logits(loaded, reference, ids):
    ours = keras_logits(loaded, ids)
    theirs = hf_logits(reference, ids)
    assert ours.shape == theirs.shape
    assert np.abs(theirs).max() > 1.0, "logits too small for the comparison to mean anything"
    np.testing.assert_allclose(ours[:, -1], theirs[:, -1], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("variant", sorted(HF_VARIANTS))
def test_hf_checkpoint_gives_transformers_logits(tmp_path, variant):
    proto = tiny_proto()
    reference = write_hf_checkpoint(tmp_path, variant, proto)
    assert describe_source(str(tmp_path)) == "hf-dir"

    loaded = load_model(str(tmp_path))

    expected_family = "gemma3" if variant.startswith("gemma3") else "gemma"
    assert loaded.family == expected_family and loaded.source == str(tmp_path)
    assert loaded.tokenizer.proto == proto
    assert_same_logits(loaded, reference, token_ids(proto))


def test_tokenizer_matches_transformers_tokenizer(tmp_path):
    import transformers

    proto = tiny_proto()
    write_hf_checkpoint(tmp_path, "gemma", proto)
    loaded = load_model(str(tmp_path))
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = "the lazy fox, 123 jugs!\n<start_of_turn>user\nquick zebras<end_of_turn>"
    assert loaded.tokenizer.encode(text) == theirs.encode(text, add_special_tokens=False)


def test_gemma3_with_tokenizer_json_only(tmp_path):
    """Gemma 3 repositories without tokenizer.model: Keras-Hub rebuilds the SentencePiece model."""
    import transformers

    proto = tiny_proto()
    write_hf_checkpoint(tmp_path, "gemma3_text", proto)
    (tmp_path / "tokenizer.model").unlink()

    loaded = load_model(str(tmp_path))

    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = "the quick brown fox jumps over the lazy dog 42"
    assert loaded.tokenizer.encode(text) == theirs.encode(text, add_special_tokens=False)


def test_multimodal_gemma3_loads_text_only(tmp_path):
    """Gemma3ForConditionalGeneration (the 4B/12B/27B layout): the language model, without the vision tower."""
    proto = tiny_proto()
    reference = write_hf_multimodal_gemma3(tmp_path, proto)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "gemma3"

    loaded = load_model(str(tmp_path))

    assert loaded.family == "gemma3" and loaded.backbone.vision_encoder is None
    assert not any("vision" in w.path for w in loaded.backbone.weights)
    assert_same_logits(loaded, reference, token_ids(proto))


def test_sparse_text_config_takes_transformers_defaults(tmp_path):
    """google/gemma-3-4b-it's config.json leaves most text_config keys to transformers' defaults;
    Keras-Hub's converter alone fails on the missing head_dim."""
    import transformers

    proto = tiny_proto()
    # Attention shape at transformers' defaults, so config.json leaves it out as the 4B's does.
    shape = {"num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "query_pre_attn_scalar": 256}
    reference = write_hf_multimodal_gemma3(tmp_path, proto, **shape)
    defaults = transformers.Gemma3TextConfig().to_dict()

    def drop_defaults(config):
        text = config["text_config"]
        for key in list(text):
            if key != "model_type" and key in defaults and defaults[key] == text[key]:
                del text[key]

    rewrite_config(tmp_path, drop_defaults)
    text = json.loads((tmp_path / "config.json").read_text())["text_config"]
    assert not set(shape) & set(text) and "layer_types" in text  # defaults gone, tiny values kept

    loaded = load_model(str(tmp_path))

    assert_same_logits(loaded, reference, token_ids(proto))


def test_sharded_checkpoint(tmp_path):
    """model.safetensors.index.json and several shards, as big checkpoints come."""
    proto = tiny_proto()
    reference = write_hf_checkpoint(tmp_path / "one", "gemma2", proto)
    reference.save_pretrained(str(tmp_path / "sharded"), max_shard_size="100KB")
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "sharded" / name).write_bytes((tmp_path / "one" / name).read_bytes())
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()

    loaded = load_model(str(tmp_path / "sharded"))

    assert_same_logits(loaded, reference, token_ids(proto))


def test_unsupported_checkpoints_say_why(tmp_path):
    proto = tiny_proto()
    write_hf_checkpoint(tmp_path, "gemma3_text", proto)

    rewrite_config(tmp_path, lambda c: c["rope_parameters"]["full_attention"].update(rope_theta=500_000.0))
    with pytest.raises(ModelLoadError, match=r"rope_theta 500000\.0 for full_attention"):
        load_model(str(tmp_path))

    rewrite_config(tmp_path, lambda c: c.update(model_type="llama"))
    with pytest.raises(ModelLoadError, match="'llama' model.*Gemma"):
        load_model(str(tmp_path))

    rewrite_config(tmp_path, lambda c: c.update(model_type="gemma3_text", query_pre_attn_scalar=20))
    with pytest.raises(ModelLoadError, match="query_pre_attn_scalar 20"):
        load_model(str(tmp_path))


def test_missing_files_say_what_is_needed(tmp_path):
    proto = tiny_proto()
    write_hf_checkpoint(tmp_path, "gemma", proto)
    (tmp_path / "tokenizer.model").unlink()
    with pytest.raises(ModelLoadError, match="no tokenizer.*tokenizer.model"):
        load_model(str(tmp_path))

    (tmp_path / "tokenizer.model").write_bytes(proto)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"no safetensors weights \(weight files found: pytorch_model\.bin\)"):
        load_model(str(tmp_path))


def test_a_config_claiming_a_huge_model_is_refused_before_anything_is_built(tmp_path):
    """A hand-edited config.json (1e9 layers) is refused in a moment, naming both sizes; it used to
    allocate until the machine ran out of memory."""
    import time

    import psutil

    write_hf_checkpoint(tmp_path, "gemma3_text", tiny_proto())
    rewrite_config(tmp_path, lambda c: c.update(num_hidden_layers=10**9, hidden_size=10**9))
    started, rss = time.monotonic(), psutil.Process().memory_info().rss
    with pytest.raises(ModelLoadError, match=r"num_hidden_layers=1000000000; a Gemma model has a whole number"):
        load_model(str(tmp_path))
    assert time.monotonic() - started < 10 and psutil.Process().memory_info().rss - rss < 2 * 2**30  # imports included
    # Within the bounds, yet far more than the weight files hold.
    other = tmp_path / "gemma"
    write_hf_checkpoint(other, "gemma", tiny_proto())
    rewrite_config(other, lambda c: c.update(hidden_size=60000, intermediate_size=1 << 20))
    with pytest.raises(ModelLoadError, match=r"describing a model of [\d,]+ parameters .* the config does not match"):
        load_model(str(other))
