"""GGUF export (gemma_jax.export.gguf_export) of tiny fine-tuned models, read back by our importer and transformers.

Each tiny model (Gemma 1, Gemma 2, Gemma 3, and a QLoRA Gemma 3) gets LoRA adapters with non-zero
B factors, so the export must fold them in to match. f16 files must give our greedy tokens and
logits back; q8_0 and q4_k_m files the intended ggml types and logits within quantization error.
The tiny models' rows (64/128 values) are too short for K-quants, so a wider Gemma 3 checks the
Q4_K/Q6_K mix, and the quantizers are checked against gguf-py's dequantizers on their own.
"""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

from gemma_jax.data.chat_template import MODEL_HEADER, render_text
from gemma_jax.data.example import Example, Turn
from gemma_jax.export.chat_jinja import CHAT_TEMPLATE
from gemma_jax.export.gguf_export import GGUFExportError, modelfile_text, write_gguf, write_modelfile
from gemma_jax.export.gguf_tensors import TensorSource, gguf_tensors, tensor_sources, tensor_type
from gemma_jax.export.kquants import quantize_k
from gemma_jax.models.gguf import read_gguf, sentencepiece_proto_from_gguf
from gemma_jax.models.gguf.importer import load_gguf
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import merged_copy
from gemma_jax.models.tokenizer import GemmaTextTokenizer

TEXTS = [
    "the cat sat on the mat",
    "hello world, how are you today?",
    "<start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
    "numbers 12345 and    spaces\tand tabs\n\nnew lines",
] * 10
PROMPTS = ["the cat", "<start_of_turn>user\nhello world<end_of_turn>\n<start_of_turn>model\n"]
IDS = np.array([[2, 5, 17, 40, 9, 33, 120, 7, 64, 11, 200, 3, 8, 90, 14, 30, 6, 250, 41, 19]], "int32")  # > windows
ARCHS = ("gemma", "gemma2", "gemma3")


def _add_lora(model: LoadedModel, seed: int) -> LoadedModel:
    from gemma_jax.models.lora import LORA_TARGETS, apply_lora, lora_layers

    apply_lora(model.backbone, rank=4, alpha=8.0, targets=list(LORA_TARGETS), seed=seed)
    rng = np.random.default_rng(seed)
    for layer in lora_layers(model.backbone):  # B starts at zero: make the adapters matter
        b = layer.lora_kernel_b
        b.assign(rng.normal(0, 0.05, tuple(b.shape)).astype("float32"))
    return model


def _tiny(arch: str, qlora: str | None = None) -> LoadedModel:
    from gemma_jax.models.loading import load_model
    from gemma_jax.models.quantization import quantize_base

    model = load_model(f"tiny:{arch}", vocab_texts=TEXTS, seed=1)
    if qlora:
        quantize_base(model.backbone, qlora)
    return _add_lora(model, seed=3)


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    built = {arch: _tiny(arch) for arch in ARCHS}
    built["gemma3-qlora"] = _tiny("gemma3", qlora="int8")
    return built


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """`exported(case, quantization)` -> path of that model's GGUF, written once."""
    folder = tmp_path_factory.mktemp("gguf")
    paths = {}

    def get(case: str, quantization: str):
        if (case, quantization) not in paths:
            path = folder / f"{case}-{quantization}.gguf"
            write_gguf(models[case], path, quantization)
            paths[case, quantization] = path
        return paths[case, quantization]

    return get


def _logits(backbone, ids=IDS) -> np.ndarray:
    return np.asarray(
        backbone.token_embedding(backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)}), reverse=True)
    )


def _reimported(path, model: LoadedModel) -> LoadedModel:
    backbone, proto, _ = load_gguf(path)
    return LoadedModel(backbone, GemmaTextTokenizer(proto), str(path), model.family, model.context_length)


def _greedy(model: LoadedModel) -> list[list[int]]:
    from gemma_jax.models.generation import Generator

    return [g.token_ids for g in Generator(model, max_length=64).generate_ids(PROMPTS, max_new_tokens=8, temperature=0)]


@pytest.mark.parametrize("case", [*ARCHS, "gemma3-qlora"])
def test_f16_round_trip_gives_our_greedy_tokens_and_logits(case, models, exported):
    model = models[case]
    path = exported(case, "f16")
    back = _reimported(path, model)
    with read_gguf(path) as gguf:
        assert gguf.architecture == case.split("-")[0]  # tiny:gemma2 is family "gemma" but a gemma2 file
        assert gguf.metadata["general.file_type"] == 1
    reference = _logits(model.backbone)
    difference = np.abs(_logits(back.backbone) - reference).max()
    assert difference < 2e-2 * max(1.0, np.abs(reference).max()), difference
    assert _greedy(back) == _greedy(model)


@pytest.mark.parametrize("case", ["gemma2", "gemma3"])
def test_transformers_gguf_loader_matches_our_logits(case, models, exported):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = models[case]
    path = exported(case, "f16")
    backbone = model.backbone
    # transformers reads neither the query scaling nor the local RoPE base from GGUF: give them (llama.cpp derives them)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, query_pre_attn_scalar=backbone.head_dim, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        theirs = hf(torch.tensor(IDS, dtype=torch.long)).logits.float().numpy()
    difference = np.abs(theirs - _logits(backbone)).max()
    assert difference < 1e-2, difference


@pytest.mark.parametrize("quantization, tolerance", [("q8_0", 0.06), ("q4_k_m", 0.25)])
@pytest.mark.parametrize("case", ARCHS)
def test_quantized_files_hold_the_intended_types_and_close_logits(case, quantization, tolerance, models, exported):
    model = models[case]
    path = exported(case, quantization)
    with read_gguf(path) as gguf:
        stored = {name: info.ggml_type for name, info in gguf.tensors.items()}
    merged = merged_copy(model.backbone, dtype="float32")
    intended = {s.name: tensor_type(s, quantization, merged.num_layers) for s in tensor_sources(merged)}
    assert stored == intended
    assert all(t == Q.F32 for name, t in stored.items() if name.endswith("norm.weight"))
    matrices = {t for name, t in stored.items() if not name.endswith("norm.weight")}
    assert matrices == ({Q.Q8_0} if quantization == "q8_0" else {Q.Q5_0, Q.Q8_0})  # rows of 64/128: no K-quants
    reference = _logits(model.backbone)
    difference = np.abs(_logits(_reimported(path, model).backbone) - reference).max()
    assert difference < tolerance * np.abs(reference).max(), (difference, np.abs(reference).max())


def test_q4_k_m_mixes_q4_k_and_q6_k_like_llama_cpp(tmp_path):
    """A Gemma 3 wide enough (rows of 256 and 512) for K-quants: llama.cpp's Q4_K_M mix, logits close."""
    import keras_hub

    from gemma_jax.models.sources.keras_fixes import apply_keras_hub_fixes
    from gemma_jax.models.tiny_vocab import train_tiny_vocab

    tokenizer = GemmaTextTokenizer(train_tiny_vocab(TEXTS, vocab_size=384))
    backbone = keras_hub.models.Gemma3Backbone(
        vocabulary_size=tokenizer.vocabulary_size, image_size=896, num_layers=8, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=256, intermediate_dim=512, head_dim=128, use_query_key_norm=True,
        use_post_ffw_norm=True, use_post_attention_norm=True, use_sliding_window_attention=True, sliding_window_size=8,
        vision_encoder=None,
        text_only_model=True, dtype="float32",
    )  # fmt: skip
    apply_keras_hub_fixes(backbone)
    model = _add_lora(LoadedModel(backbone, tokenizer, "wide", "gemma3", 256), seed=5)
    path = tmp_path / "wide.gguf"
    write_gguf(model, path, "q4_k_m")
    expected = gguf_tensors(merged_copy(backbone, dtype="float32"))
    with read_gguf(path) as gguf:
        stored = {name: info.ggml_type for name, info in gguf.tensors.items()}
        assert gguf.metadata["general.file_type"] == 15
        # each tensor within its type's usual error (relative RMS) of the merged weights
        bounds = {Q.Q4_K: 0.07, Q.Q6_K: 0.02, Q.F32: 0.0}
        for name, qtype in stored.items():
            error = np.sqrt(((gguf.dequantize(name) - expected[name]) ** 2).mean() / (expected[name] ** 2).mean())
            assert error <= bounds[qtype], (name, qtype.name, error)
    assert stored["token_embd.weight"] == Q.Q6_K  # tied with the output head: Q6_K
    more_bits = {0, 3, 6, 7}  # use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2
    for i in range(8):
        for name in ("attn_v", "ffn_down"):
            assert stored[f"blk.{i}.{name}.weight"] == (Q.Q6_K if i in more_bits else Q.Q4_K), (i, name)
        for name in ("attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"):
            assert stored[f"blk.{i}.{name}.weight"] == Q.Q4_K
    # 6% weight noise in every matrix of a random 8-layer model moves its logits by ~20% of their range
    reference = _logits(backbone)
    difference = np.abs(_logits(_reimported(path, model).backbone) - reference).max()
    assert difference < 0.3 * np.abs(reference).max()


def test_q4_k_m_rule_reproduces_llama_cpp_gemma3_270m_file():
    """The types llama-quantize chose for the published Gemma 3 270M Q4_K_M (640-wide rows fall back)."""
    more_bits = {0, 1, 4, 7, 10, 13, 15, 16, 17}

    def kind(name, shape):
        return tensor_type(TensorSource(name, shape, lambda: None), "q4_k_m", 18)

    assert kind("token_embd.weight", (262144, 640)) == Q.Q8_0
    assert kind("blk.3.attn_q.weight", (1024, 640)) == Q.Q5_0
    assert kind("blk.3.attn_output.weight", (640, 1024)) == Q.Q4_K
    assert kind("blk.3.attn_q_norm.weight", (256,)) == Q.F32
    for i in range(18):
        assert kind(f"blk.{i}.attn_v.weight", (256, 640)) == (Q.Q8_0 if i in more_bits else Q.Q5_0)
        assert kind(f"blk.{i}.ffn_down.weight", (640, 2048)) == (Q.Q6_K if i in more_bits else Q.Q4_K)


@pytest.mark.parametrize("qtype, levels, block", [(Q.Q4_K, 15, 32), (Q.Q6_K, 63, 16)])
def test_k_quantizers_round_trip_through_gguf_dequantize(qtype, levels, block):
    import gguf

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 512)) * np.exp(rng.standard_normal((16, 1)))).astype(np.float32)
    x[3] = 0.0  # an all-zero row
    x[4, :256] = 7.5  # a constant block
    packed = quantize_k(x, qtype)
    assert packed.dtype == np.uint8 and packed.shape == (16, 2 * gguf.GGML_QUANT_SIZES[qtype][1])
    y = gguf.quants.dequantize(packed, qtype)
    assert np.all(y[3] == 0)
    # every value within about one step of its sub-block's grid: a misplaced nibble or scale would be far off
    xs, ys = x.reshape(-1, block), y.reshape(-1, block)
    span = xs.max(1) - np.minimum(xs.min(1), 0) if qtype == Q.Q4_K else 2 * np.abs(xs).max(1)
    assert np.all(np.abs(ys - xs).max(1) <= span / levels + 1e-6)
    relative = np.sqrt(((y - x) ** 2).mean() / (x**2).mean())
    assert relative < (0.09 if qtype == Q.Q4_K else 0.025)
    # the layout is exact: dequantized values are a fixed point (re-quantized, they come back bit for bit)
    np.testing.assert_array_equal(gguf.quants.dequantize(quantize_k(y, qtype), qtype), y)


def test_tokenizer_metadata_rebuilds_the_same_tokenizer(models, exported):
    model = models["gemma3"]
    with read_gguf(exported("gemma3", "f16")) as gguf:
        metadata = gguf.metadata
    assert metadata["tokenizer.ggml.model"] == "llama"
    assert metadata["tokenizer.ggml.add_bos_token"] is True and metadata["tokenizer.ggml.add_eos_token"] is False
    tokenizer = model.tokenizer
    for key, value in [("bos", tokenizer.bos_id), ("eos", tokenizer.eos_id), ("padding", tokenizer.pad_id)]:
        assert metadata[f"tokenizer.ggml.{key}_token_id"] == value
    tokens = list(metadata["tokenizer.ggml.tokens"])
    assert metadata["tokenizer.ggml.token_type"][tokens.index("<end_of_turn>")] == 3  # CONTROL, as llama.cpp has it
    rebuilt = GemmaTextTokenizer(sentencepiece_proto_from_gguf(metadata))
    for text in [*set(TEXTS), "  two spaces, <start_of_turn> and ünïcödé 日本 😀", ""]:
        assert rebuilt.encode(text) == tokenizer.encode(text), text
    assert metadata["tokenizer.chat_template"] == CHAT_TEMPLATE


@pytest.mark.parametrize(
    "turns",
    [
        [("user", "Hi there")],
        [("system", "Be brief."), ("user", " padded question \n"), ("model", "Sure."), ("user", "And?")],
        [("system", "One."), ("system", "Two."), ("user", "Q"), ("model", "A")],
        [("system", " Sys\n"), ("user", "\n\tQ?\u3000"), ("model", "  A  "), ("user", "next\n")],
    ],
)
def test_chat_template_renders_what_training_renders(turns):
    import jinja2

    example = Example(tuple(Turn(role, text) for role, text in turns))
    messages = [{"role": "assistant" if role == "model" else role, "content": text} for role, text in turns]
    template = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).from_string(CHAT_TEMPLATE)
    open_turn = turns[-1][0] == "user"
    rendered = template.render(messages=messages, bos_token="<bos>", add_generation_prompt=open_turn)
    assert rendered == "<bos>" + render_text(example) + (MODEL_HEADER if open_turn else "")


def test_chat_template_trims_each_text_part_of_user_and_assistant_messages():
    """A list of parts: user and assistant parts trimmed one by one, then joined (Gemma's official template);
    system parts joined as written."""
    import jinja2

    parts = [{"type": "text", "text": " a "}, {"type": "image"}, {"type": "text", "text": " b "}]
    messages = [
        {"role": "system", "content": [{"type": "text", "text": " Be "}, {"type": "text", "text": "brief. "}]},
        {"role": "user", "content": parts},
        {"role": "assistant", "content": [{"type": "text", "text": "\nc "}, {"type": "text", "text": " d\n"}]},
        {"role": "user", "content": " e "},
    ]
    template = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).from_string(CHAT_TEMPLATE)
    rendered = template.render(messages=messages, bos_token="<bos>", add_generation_prompt=True)
    example = Example((Turn("system", " Be brief. "), Turn("user", "ab"), Turn("model", "cd"), Turn("user", "e")))
    assert rendered == "<bos>" + render_text(example) + MODEL_HEADER
    assert "<start_of_turn>user\n Be brief. \n\nab<end_of_turn>\n" in rendered


def test_gemma2_features_must_all_be_there(models):
    model = models["gemma2"]
    block = model.backbone
    original = block.final_logit_soft_cap
    try:
        block.final_logit_soft_cap = None
        with pytest.raises(GGUFExportError, match="final logit soft cap"):
            write_gguf(model, "/nonexistent/never-written.gguf", "f16")
    finally:
        block.final_logit_soft_cap = original
    with pytest.raises(ValueError, match="q4_k_m"):
        write_gguf(model, "/nonexistent/x.gguf", "q4_0")


def test_modelfile(tmp_path):
    path = write_modelfile("model-q4_k_m.gguf", tmp_path, system="Answer briefly.", parameters={"temperature": 0.7})
    text = path.read_text(encoding="utf-8")
    assert path.name == "Modelfile" and text.startswith("FROM ./model-q4_k_m.gguf\n")
    assert 'PARAMETER stop "<end_of_turn>"' in text and "PARAMETER temperature 0.7" in text
    assert "<start_of_turn>user\n{{ if $system }}" in text and "<start_of_turn>model\n{{ .Content }}" in text
    assert 'SYSTEM """Answer briefly."""' in text
    assert modelfile_text("a.gguf").count('TEMPLATE """') == 1
    with pytest.raises(ValueError):
        write_modelfile("../escape.gguf", tmp_path)
