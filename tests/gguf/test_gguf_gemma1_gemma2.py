"""Gemma 1 ("gemma") and Gemma 2 ("gemma2") GGUF files -> Keras-Hub GemmaBackbone.

Two kinds of source: tiny random Keras GemmaBackbones written out the way llama.cpp stores
them (F32 and Q8_0), compared with the backbone they came from; and tiny random transformers
checkpoints converted the way llama.cpp's convert_hf_to_gguf.py does it, loaded through
`load_model` (the path users take: converted preset, cache, query-scaling fix) and compared
with transformers' own logits, and for Gemma 2 with transformers' GGUF loader reading the
same file. Plus the architecture dispatch, llama.cpp's implied defaults, and errors.
"""

import json
import os

import numpy as np
import pytest
from gguf_test_helpers import (
    Q8_0,
    gemma_like_vocab,
    gemma_metadata,
    keras_gemma_gguf_tensors,
    llama_cpp_gguf_from_hf,
    write_gguf,
)

from gemma_jax.models.gguf import importer
from gemma_jax.models.gguf.errors import GGUFImportError
from gemma_jax.models.gguf.fast_init import skip_random_init
from gemma_jax.models.gguf.gemma_import import gemma_config_from_gguf, load_gemma_gguf
from gemma_jax.models.gguf.importer import load_gguf
from gemma_jax.models.gguf.reader import read_gguf
from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes
from gemma_jax.models.tokenizer import GemmaTextTokenizer

VOCAB = gemma_like_vocab(384)
# Keras-Hub GemmaBackbone shapes; Q8_0 needs every matrix row (the `in` side) a multiple of 32.
KERAS_SHAPES = {
    "gemma": {
        "num_layers": 2,
        "num_query_heads": 4,
        "num_key_value_heads": 1,
        "hidden_dim": 64,
        "intermediate_dim": 256,
        "head_dim": 32,  # not hidden / heads, as in Gemma 7B
    },
    "gemma2": {
        "num_layers": 4,
        "num_query_heads": 4,
        "num_key_value_heads": 2,
        "hidden_dim": 64,
        "intermediate_dim": 256,
        "head_dim": 16,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": 5.0,
        "final_logit_soft_cap": 10.0,
        "use_sliding_window_attention": True,
        "sliding_window_size": 5,  # shorter than the inputs, so the window matters
    },
}
LOGIT_TOLERANCE = 1e-4  # vs transformers, max abs over every position and vocabulary entry


def _inputs(length=20, seed=0):
    ids = np.random.default_rng(seed).integers(0, len(VOCAB[0]), (2, length)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, length - 3 :] = 0
    return {"token_ids": ids, "padding_mask": mask}


def _logits(backbone, inputs) -> np.ndarray:
    """Final logits (Gemma 2's soft cap included) at every position."""
    return np.asarray(backbone.token_embedding(backbone(inputs), reverse=True))


@pytest.fixture(scope="module", params=sorted(KERAS_SHAPES))
def keras_source(request, tmp_path_factory):
    """(arch, random tiny GemmaBackbone, its GGUF in F32, in Q8_0, its logits)."""
    import keras_hub

    arch = request.param
    with skip_random_init():  # every weight is set below
        source = keras_hub.models.GemmaBackbone(vocabulary_size=len(VOCAB[0]), dtype="float32", **KERAS_SHAPES[arch])
    apply_keras_hub_fixes(source)
    rng = np.random.default_rng(1)
    for weight in source.weights:
        weight.assign(rng.normal(0.0, 0.2, weight.shape).astype("float32"))
    folder = tmp_path_factory.mktemp(arch)
    metadata = gemma_metadata(source, arch, *VOCAB)
    files = {
        kind: write_gguf(
            folder / f"{arch}-{kind}.gguf",
            keras_gemma_gguf_tensors(source, matrix_type=qtype),
            arch=arch,
            metadata=metadata,
        )
        for kind, qtype in (("f32", None), ("q8_0", Q8_0))
    }
    return arch, source, files, _logits(source, _inputs())


def _max_weight_difference(expected, actual) -> float:
    assert [w.path for w in expected.weights] == [w.path for w in actual.weights]
    return max(
        float(np.abs(np.asarray(a.value) - np.asarray(b.value)).max()) for a, b in zip(expected.weights, actual.weights)
    )


def test_keras_round_trip_f32(keras_source):
    arch, source, files, expected = keras_source
    backbone, proto, found = load_gguf(files["f32"])
    assert found == arch and type(backbone).__name__ == "GemmaBackbone"
    assert {**backbone.get_config(), "name": None} == {**source.get_config(), "name": None}
    assert _max_weight_difference(source, backbone) < 1e-6  # norms come back as (w + 1) - 1
    difference = np.abs(_logits(backbone, _inputs()) - expected).max()
    print(f"{arch} F32: max |logit difference| {difference:.2e}")
    assert difference < 1e-5
    tokenizer = GemmaTextTokenizer(proto)
    ids = tokenizer.encode("<start_of_turn>user\nhello<end_of_turn>")
    assert [tokenizer.id_to_piece(i) for i in ids] == ["<start_of_turn>", "user", "\n", "hello", "<end_of_turn>"]


def test_keras_round_trip_q8_0(keras_source):
    arch, source, files, expected = keras_source
    backbone, _ = load_gemma_gguf(files["q8_0"])
    assert {**backbone.get_config(), "name": None} == {**source.get_config(), "name": None}
    # Q8_0: blocks of 32 with one scale max|x|/127, so each weight is off by at most half a step
    largest = max(float(np.abs(np.asarray(w.value)).max()) for w in source.weights)
    weight_error = _max_weight_difference(source, backbone)
    assert 0 < weight_error <= largest / 127 * (0.5 + 127 / 2048)  # + the scale's float16 rounding
    difference = np.abs(_logits(backbone, _inputs()) - expected)
    relative = np.sqrt(np.mean(difference**2) / np.mean(expected**2))
    print(
        f"{arch} Q8_0: max |weight difference| {weight_error:.2e}, max |logit difference| {difference.max():.2e} "
        f"(logits up to {np.abs(expected).max():.1f}), relative RMS difference {relative:.2e}"
    )
    assert relative < 0.1


# --- the strong check: transformers' own models, converted as llama.cpp converts them -----------------

HF_CASES = {
    # Gemma 1: MQA, head_dim 32 != hidden / heads, exact GELU-tanh MLP, no soft caps
    "gemma": {"num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 32},
    # Gemma 2 2B/9B-style: queries scaled by 1/sqrt(head_dim)
    "gemma2": {"num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16},
    # Gemma 2 27B-style: 46 layers, queries scaled by 1/sqrt(hidden / heads) = 1/4, head_dim 8
    "gemma2-46": {"num_hidden_layers": 46, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8},
}


def _hf_model(case: str):
    import torch
    import transformers

    shape = {"vocab_size": len(VOCAB[0]), "hidden_size": 64, "intermediate_size": 96, **HF_CASES[case]}
    common = {"max_position_embeddings": 128, "rms_norm_eps": 1e-6, "attn_implementation": "eager"}
    if case == "gemma":
        config, cls = transformers.GemmaConfig(**shape, **common), transformers.GemmaForCausalLM
    else:
        gemma2 = {"attn_logit_softcapping": 5.0, "final_logit_softcapping": 10.0, "sliding_window": 5}
        scalar = shape["head_dim"] if case == "gemma2" else shape["hidden_size"] // shape["num_attention_heads"]
        config = transformers.Gemma2Config(**shape, **common, **gemma2, query_pre_attn_scalar=scalar)
        cls = transformers.Gemma2ForCausalLM
    torch.manual_seed(0)
    model = cls(config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # every weight random, norms included (HF's init leaves them 0, i.e. scale 1)
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model, config


def _hf_logits(model, ids) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor(ids, dtype=torch.long)).logits.numpy()


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_llama_cpp_conversion_of_transformers_model_matches_transformers(case, tmp_path, monkeypatch):
    from gemma_jax.models.loading import load_model

    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path / "cache"))
    model, config = _hf_model(case)
    model.save_pretrained(tmp_path / "hf")
    path = llama_cpp_gguf_from_hf(tmp_path / "hf", tmp_path / f"{case}.gguf", VOCAB)
    ids = np.random.default_rng(0).integers(0, len(VOCAB[0]), (2, 20)).astype("int32")
    reference = _hf_logits(model, ids)

    loaded = load_model(str(path))
    assert loaded.family == "gemma" and type(loaded.backbone).__name__ == "GemmaBackbone"
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    ours = _logits(loaded.backbone, inputs)
    difference = np.abs(ours - reference).max()
    print(
        f"{case}: max |logit difference| vs transformers {difference:.2e} (logits up to {np.abs(reference).max():.1f})"
    )
    assert difference < LOGIT_TOLERANCE

    if case == "gemma2":  # transformers reads Gemma 2 GGUF files too (not Gemma 1): a second reader of the file
        import transformers

        second = transformers.Gemma2ForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, config=config).eval()
        second_difference = np.abs(_hf_logits(second, ids) - ours).max()
        print(f"{case}: max |logit difference| vs transformers' GGUF loader {second_difference:.2e}")
        assert second_difference < LOGIT_TOLERANCE
    if case == "gemma2-46":  # the check can fail: Keras-Hub's default query scaling is off by far more
        attention = loaded.backbone.get_layer("decoder_block_0").attention
        assert attention.query_head_dim_normalize is False
        for block in loaded.backbone.transformer_layers:
            block.attention.query_head_dim_normalize = True
        assert np.abs(_logits(loaded.backbone, inputs) - reference).max() > 100 * LOGIT_TOLERANCE


# --- dispatch, cache, implied defaults, errors ----------------------------------------------------------


def test_load_model_caches_the_converted_preset(keras_source, tmp_path, monkeypatch):
    from gemma_jax.models.loading import load_model

    arch, _, files, expected = keras_source
    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path))
    model = load_model(str(files["f32"]))
    presets = os.listdir(tmp_path / "presets")
    assert len(presets) == 1 and presets[0].startswith(f"{arch}-f32-")
    with open(tmp_path / "presets" / presets[0] / "gguf_import.json") as file:
        record = json.load(file)
    assert record["architecture"] == arch and len(record["sha256"]) == 64
    assert np.abs(_logits(model.backbone, _inputs()) - expected).max() < 1e-5
    assert model.tokenizer.end_of_turn_id == VOCAB[0].index("<end_of_turn>")

    monkeypatch.setattr(importer, "load_gguf", _must_not_be_called)
    again = load_model(str(files["f32"]))  # from the cached preset, not converted again
    assert _max_weight_difference(model.backbone, again.backbone) == 0


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("converted again")


def _header_only(path, arch, keys=None):
    """A GGUF with a Gemma 1/2 config and only the embedding: enough for the config reader."""

    def metadata(writer):
        writer.add_embedding_length(64)
        writer.add_block_count(46)
        writer.add_feed_forward_length(96)
        writer.add_head_count(4)
        writer.add_head_count_kv(2)
        writer.add_key_length(16)
        writer.add_value_length(16)
        writer.add_layer_norm_rms_eps(1e-6)
        for key, value in (keys or {}).items():
            writer.add_float32(f"{arch}.{key}", value)

    tensors = {"token_embd.weight": (np.zeros((len(VOCAB[0]), 64), np.float32), None)}
    return write_gguf(path, tensors, arch=arch, metadata=metadata)


def test_gemma2_defaults_are_llama_cpps(tmp_path):
    with read_gguf(_header_only(tmp_path / "bare.gguf", "gemma2")) as gguf:
        config = gemma_config_from_gguf(gguf)
    assert (config["attention_logit_soft_cap"], config["final_logit_soft_cap"]) == (50.0, 30.0)
    assert config["use_sliding_window_attention"] and config["sliding_window_size"] == 4096
    assert config["query_head_dim_normalize"] is False  # 46 layers: Gemma 2 27B's scaling
    assert config["intermediate_dim"] == 2 * 96


def test_gemma1_is_plain(tmp_path):
    with read_gguf(_header_only(tmp_path / "bare.gguf", "gemma")) as gguf:
        config = gemma_config_from_gguf(gguf)
    assert config["query_head_dim_normalize"] is True  # Gemma 1 has no 27B-style scaling
    assert not any(
        config[key] for key in ("use_post_ffw_norm", "use_post_attention_norm", "use_sliding_window_attention")
    )
    assert config["attention_logit_soft_cap"] is None and config["final_logit_soft_cap"] is None


def test_unsupported_architecture_names_the_supported_ones(tmp_path, monkeypatch):
    from gemma_jax.models.loading import ModelLoadError, load_model

    monkeypatch.setenv("GEMMA_JAX_CACHE", str(tmp_path / "cache"))
    path = write_gguf(
        tmp_path / "llama.gguf", {"token_embd.weight": (np.zeros((8, 32), np.float32), None)}, arch="llama"
    )
    with pytest.raises(GGUFImportError, match=r"holds a 'llama' model.*Gemma.*'gemma'.*Gemma 2 \('gemma2'\).*'gemma3'"):
        load_gguf(path)
    with pytest.raises(ModelLoadError, match=r"'llama'.*'gemma2'"):
        load_model(str(path))
    with (
        read_gguf(_header_only(tmp_path / "g3.gguf", "gemma3")) as gguf,
        pytest.raises(GGUFImportError, match="Gemma 2"),
    ):
        gemma_config_from_gguf(gguf)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"rope.freq_base": 500_000.0}, "RoPE base 500000 is not 10000"),
        ({"attn_logit_softcapping": 0.0}, "soft cap is positive"),
    ],
)
def test_settings_keras_hub_cannot_express_are_refused(tmp_path, keys, message):
    with (
        read_gguf(_header_only(tmp_path / "odd.gguf", "gemma2", keys)) as gguf,
        pytest.raises(GGUFImportError, match=message),
    ):
        gemma_config_from_gguf(gguf)


def test_missing_and_unknown_tensors_are_named(keras_source, tmp_path):
    arch, source, _, _ = keras_source
    tensors = keras_gemma_gguf_tensors(source)
    del tensors["blk.1.ffn_down.weight"]
    metadata = gemma_metadata(source, arch, *VOCAB)
    with pytest.raises(GGUFImportError, match=r"lacks 1 tensor\(s\).*blk\.1\.ffn_down\.weight"):
        load_gguf(write_gguf(tmp_path / "missing.gguf", tensors, arch=arch, metadata=metadata))
    tensors = keras_gemma_gguf_tensors(source)
    tensors["output.weight"] = tensors["token_embd.weight"]
    with pytest.raises(GGUFImportError, match="does not know.*output.weight"):
        load_gguf(write_gguf(tmp_path / "extra.gguf", tensors, arch=arch, metadata=metadata))
