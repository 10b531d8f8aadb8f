"""The transformers export: AutoModelForCausalLM on the folder computes our LoRA/QLoRA model's logits and
greedy tokens, for Gemma 1, 2 and 3; the tokenizer files give our ids and our chat template."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from hf_helpers import TEXTS, TOLERANCE, keras_logits, load_hf, random_ids, tiny_lora_model, torch_logits

from gemma_jax.data.chat_template import prompt_text, render_text
from gemma_jax.data.example import Example, Turn
from gemma_jax.export.hf_tokenizer import write_hf_tokenizer
from gemma_jax.export.safetensors_shards import INDEX_NAME, parse_size
from gemma_jax.export.transformers_export import write_transformers
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import TINY_VOCABULARY_SIZE
from gemma_jax.models.tiny_vocab import train_tiny_vocab
from gemma_jax.models.tokenizer import GemmaTextTokenizer

pytestmark = pytest.mark.slow  # three tiny models exported and loaded by transformers: about a minute

HF_CLASSES = {"gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3": "Gemma3ForCausalLM"}
PROMPTS = [prompt_text("the quick brown"), prompt_text("pack my box", system="Be brief."), "héllo wörld"]


@pytest.fixture(scope="module", params=sorted(HF_CLASSES))
def exported(request, tmp_path_factory):
    """(arch, our LoRA model, its export folder with small shards, transformers' model of it)."""
    model = tiny_lora_model(request.param)
    folder = tmp_path_factory.mktemp(f"hf-{request.param}")
    write_transformers(model, folder, max_shard_size="100KB")
    return request.param, model, folder, load_hf(folder)


def test_transformers_reproduces_our_logits_from_sharded_weights(exported):
    arch, model, folder, hf = exported
    assert type(hf).__name__ == HF_CLASSES[arch]
    ids = random_ids(model)
    expected = keras_logits(model.backbone, ids)
    np.testing.assert_allclose(torch_logits(hf, ids), expected, atol=TOLERANCE, rtol=0)

    index = json.loads((folder / INDEX_NAME).read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((folder / shard).is_file() for shard in shards)
    assert not (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (2, 1, 0)
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [1, model.tokenizer.end_of_turn_id]


def test_transformers_greedy_tokens_match_our_generator(exported):
    _, model, _, hf = exported
    import torch

    ours = Generator(model, max_length=64).generate_ids(PROMPTS, max_new_tokens=16, temperature=0.0)
    stops = (model.tokenizer.eos_id, model.tokenizer.end_of_turn_id)
    for prompt, generation in zip(PROMPTS, ours):
        ids = torch.tensor([[model.tokenizer.bos_id, *model.tokenizer.encode(prompt)]])
        out = hf.generate(input_ids=ids, max_new_tokens=16, do_sample=False)[0, ids.shape[1] :].tolist()
        stop = next((i for i, token in enumerate(out) if token in stops), len(out))
        assert out[:stop] == generation.token_ids, prompt


def test_config_carries_gemma2_and_gemma3_settings(exported):
    arch, model, folder, _ = exported
    config = json.loads((folder / "config.json").read_text())
    backbone = model.backbone
    assert config["vocab_size"] == backbone.vocabulary_size and config["dtype"] == "float32"
    if arch == "gemma2":
        assert config["model_type"] == "gemma2"
        assert (config["attn_logit_softcapping"], config["final_logit_softcapping"]) == (50.0, 30.0)
        assert config["query_pre_attn_scalar"] == backbone.hidden_dim // backbone.num_query_heads
        assert config["layer_types"] == ["sliding_attention", "full_attention"] and config["sliding_window"] == 16
    if arch == "gemma3":
        assert config["model_type"] == "gemma3_text" and config["layer_types"][5] == "full_attention"
        assert config["rope_parameters"]["sliding_attention"]["rope_theta"] == 10_000.0
        assert config["rope_parameters"]["full_attention"]["rope_theta"] == 1_000_000.0


def test_tokenizer_files_give_our_ids_and_our_chat_template(tmp_path):
    from transformers import AutoTokenizer

    ours = GemmaTextTokenizer(train_tiny_vocab(TEXTS, vocab_size=TINY_VOCABULARY_SIZE))
    written = write_hf_tokenizer(ours, tmp_path, context_length=1024)
    assert set(written) == {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
    assert (tmp_path / "tokenizer.model").read_bytes() == ours.proto
    (tmp_path / "tokenizer.model").unlink()  # tokenizer.json alone is enough (vLLM, TGI)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 1, 0)
    for text in [TEXTS[0], TEXTS[2] + "\n\n  two  spaces", prompt_text("héllo")]:
        assert tokenizer(text)["input_ids"] == [ours.bos_id, *ours.encode(text)]
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=False) == "<bos>" + text
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "the quick brown\n"},
        {"role": "assistant", "content": " fox "},
        {"role": "user", "content": [{"type": "text", "text": " and "}, {"type": "text", "text": " then? "}]},
    ]
    example = Example(
        turns=(
            Turn("system", "Be brief."),
            Turn("user", "the quick brown"),
            Turn("model", "fox"),
            Turn("user", "andthen?"),  # each part trimmed, as Gemma's official template does
        )
    )
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == "<bos>" + render_text(example) + "<start_of_turn>model\n"
    assert tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True) == (
        "<bos>" + prompt_text("the quick brown", system="Be brief.")
    )


USER_PIECES = ("<table>", "</table>", "<tr>", "</tr>", "<unused3>", "▁▁", "▁▁▁", "\n\n", "<start_of_image>")


@pytest.mark.parametrize("with_model", [True, False], ids=["tokenizer.model", "tokenizer.json"])
def test_user_defined_pieces_tokenize_as_sentencepiece_does(tmp_path, with_model):
    """AutoTokenizer matches <table>, <unused3> and runs of spaces whole, as SentencePiece (training) does."""
    from transformers import AutoTokenizer

    ours = GemmaTextTokenizer(train_tiny_vocab(TEXTS, vocab_size=TINY_VOCABULARY_SIZE, extra_symbols=USER_PIECES))
    write_hf_tokenizer(ours, tmp_path, context_length=1024)
    if not with_model:
        (tmp_path / "tokenizer.model").unlink()
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    table = "<table><tr>the fox</tr></table>"
    assert ours.encode(table)[:2] == [ours._sp.piece_to_id("<table>"), ours._sp.piece_to_id("<tr>")]
    for text in [
        table,
        "a  b   c    d\n\n\ne",
        " <unused3>x<tr> \n\n<start_of_image>  <table>  ",
        prompt_text("<table> pack  my\n\nbox </table>"),
    ]:
        assert tokenizer.encode(text, add_special_tokens=False) == ours.encode(text), text
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    added = {token["content"]: token for token in config["added_tokens_decoder"].values()}
    assert {
        piece: added[piece]["special"] for piece in ("<table>", "▁▁", "<unused3>", "<start_of_image>", "<bos>")
    } == {
        "<table>": False,
        "▁▁": False,
        "<unused3>": True,
        "<start_of_image>": True,
        "<bos>": True,
    }
    ids = tokenizer.encode("<table>x<unused3>y", add_special_tokens=False)
    assert tokenizer.decode(ids, skip_special_tokens=True) == ours.decode_text(ids) == "<table>xy"


def test_qlora_bases_are_dequantized_into_the_export(tmp_path):
    model = tiny_lora_model("gemma3", quantization="int4", seed=2)
    write_transformers(model, tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / INDEX_NAME).exists()
    ids = random_ids(model)
    np.testing.assert_allclose(
        torch_logits(load_hf(tmp_path), ids), keras_logits(model.backbone, ids), atol=TOLERANCE, rtol=0
    )


def test_bfloat16_export_is_bfloat16_on_disk_and_close(tmp_path):
    from safetensors import safe_open

    model = tiny_lora_model("gemma2", quantization="int8", seed=3)
    write_transformers(model, tmp_path, dtype="bfloat16")
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(str(tmp_path / "model.safetensors"), "np") as weights:
        assert {str(weights.get_slice(name).get_dtype()) for name in weights.keys()} == {"BF16"}  # noqa: SIM118
    ids = random_ids(model)
    expected = keras_logits(model.backbone, ids)
    theirs = torch_logits(load_hf(tmp_path, "bfloat16"), ids)
    np.testing.assert_allclose(theirs, expected, atol=0.05 * float(np.abs(expected).max()), rtol=0)


def test_shard_sizes_read_like_hugging_face():
    assert parse_size("2GB") == 2 * 10**9 and parse_size("1GiB") == 2**30 and parse_size("500MB") == 5 * 10**8
    assert parse_size(1234) == 1234
    with pytest.raises(ValueError, match="shard size"):
        parse_size("two gigs")
