"""Model sources: tiny random-init models and local Keras-Hub preset directories."""

import keras_hub
import numpy as np
import pytest
from engine_helpers import TEXTS, fast_config

from gemma_jax.models.loading import ModelLoadError, load_model
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.trainer import train_run


def test_same_seed_same_weights_and_vocabulary():
    first, second = (load_model("tiny:gemma3", seed=3, vocab_texts=TEXTS) for _ in range(2))
    assert first.tokenizer.proto == second.tokenizer.proto
    for a, b in zip(first.backbone.weights, second.backbone.weights):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))


@pytest.mark.parametrize("arch", ["gemma", "gemma3"])
def test_local_keras_preset_directory_loads_and_trains(tmp_path, arch):
    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS)
    preset = tmp_path / "preset"
    model.backbone.save_to_preset(str(preset))
    tokenizer_cls = keras_hub.models.Gemma3Tokenizer if arch == "gemma3" else keras_hub.models.GemmaTokenizer
    extra = {"has_vision_tokens": False} if arch == "gemma3" else {}
    tokenizer_cls(proto=model.tokenizer.proto, **extra).save_to_preset(str(preset))

    loaded = load_model(str(preset))
    assert loaded.family == arch and loaded.tokenizer.proto == model.tokenizer.proto
    for a, b in zip(model.backbone.weights, loaded.backbone.weights):
        np.testing.assert_array_equal(np.asarray(a.value), np.asarray(b.value))

    store = RunStore.create(fast_config(tmp_path, f"model.source={preset}", "train.max_steps=2"))
    assert train_run(str(store.path), progress=False) == "completed"


def test_bad_sources_say_what_to_do(tmp_path):
    with pytest.raises(ModelLoadError, match="save_to_preset"):
        load_model(str(tmp_path))
    with pytest.raises(ModelLoadError, match="tiny:<arch>"):
        load_model("no-such-model")
    with pytest.raises(ModelLoadError, match="unknown architecture"):
        load_model("tiny:gemma9", vocab_texts=TEXTS)
