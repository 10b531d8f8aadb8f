"""`gemma-jax models` and `gemma-jax generate`, driven through the CLI's main()."""

import json

import pytest

from gemma_jax.cli import DEFAULT_MODEL, build_parser, main
from gemma_jax.config import JobConfig
from gemma_jax.data import data_texts, prompt_text
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import EMBEDDED_MODEL, load_model
from gemma_jax.models.registry import VARIANTS


def _models_json(capsys, *flags) -> list[dict]:
    assert main(["models", "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_models_lists_the_registry_with_the_embedded_default_first(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "params"]
    first = lines[1].split()
    assert first[:3] == ["*", EMBEDDED_MODEL, "Gemma"] and "268M" in first and "32K" in first
    text = "\n".join(lines)
    for name in ("gemma2_9b_en", "gemma3_instruct_27b_text", "code_gemma_7b_en", "gemma3n_e4b"):
        assert name in text
    assert "not trainable yet" in text and "built in" in text


def test_models_json_has_every_variant_and_consistent_estimates(capsys):
    rows = _models_json(capsys)
    assert rows[0]["name"] == EMBEDDED_MODEL and rows[0]["built_in"]
    assert len(rows) == len(VARIANTS)
    by_name = {r["name"]: r for r in rows}
    gemma = by_name["gemma_7b_en"]
    assert gemma["params"] == 8_537_680_896 and gemma["context_length"] == 8192
    assert gemma["architecture"]["num_layers"] == 28 and gemma["architecture"]["ffn_dim"] == 24576
    for row in rows:
        memory = row["memory_bytes"]
        if row["trainable"]:
            assert memory["full"] > memory["lora"] > memory["qlora"] > 0, row["name"]
        else:
            assert memory == {"full": None, "lora": None, "qlora": None}


def test_models_re_estimates_for_batch_sequence_and_dtype(capsys):
    base = {r["name"]: r["memory_bytes"] for r in _models_json(capsys)}
    longer = {
        r["name"]: r["memory_bytes"] for r in _models_json(capsys, "--batch-size", "16", "--sequence-length", "1024")
    }
    wider = {r["name"]: r["memory_bytes"] for r in _models_json(capsys, "--dtype", "float32")}
    for name in ("gemma3_270m", "gemma2_2b_en"):
        assert longer[name]["lora"] > base[name]["lora"]
        assert wider[name]["full"] != base[name]["full"]


@pytest.mark.parametrize("flags", [["--batch-size", "0"], ["--sequence-length", "many"], ["--dtype", "int3"]])
def test_models_rejects_bad_flags(capsys, flags):
    with pytest.raises(SystemExit) as exit_info:
        main(["models", *flags])
    assert exit_info.value.code == 2
    assert "gemma-jax models: error" in capsys.readouterr().err


def test_generate_defaults_to_the_embedded_model():
    assert DEFAULT_MODEL == EMBEDDED_MODEL == "gemma3_270m"
    assert build_parser().parse_args(["generate", "--prompt", "hi"]).model is None


@pytest.fixture(scope="module")
def tiny_model():
    """The same model `generate tiny:gemma3` builds: default data texts, seed 0."""
    return load_model("tiny:gemma3", vocab_texts=data_texts(JobConfig().data))


@pytest.mark.parametrize("raw", [True, False])
def test_generate_json_gives_the_generated_ids(capsys, tiny_model, raw):
    question = "Where be the treasure?"
    flags = ["--raw"] if raw else []
    assert main(["generate", "tiny:gemma3", "--prompt", question, "--max-new-tokens", "6", "--json", *flags]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"text", "token_ids"}
    assert 1 <= len(result["token_ids"]) <= 6
    # --raw feeds the prompt as-is after <bos>; without it the chat template wraps it.
    prompt = question if raw else prompt_text(question)
    expected = Generator(tiny_model, max_length=64).generate_ids([prompt], 6)[0]
    assert result["token_ids"] == expected.token_ids
    assert result["text"] == expected.text == tiny_model.tokenizer.decode(expected.token_ids).strip()


def test_generate_plain_output_is_the_text(capsys, tiny_model):
    assert main(["generate", "tiny:gemma3", "--prompt", "Ahoy", "--max-new-tokens", "4", "--raw"]) == 0
    expected = Generator(tiny_model, max_length=64).generate_ids(["Ahoy"], 4)[0]
    assert capsys.readouterr().out == expected.text + "\n"


def test_generate_unknown_model_is_a_clear_error(capsys):
    assert main(["generate", "no-such-model-anywhere", "--prompt", "x"]) == 2
    assert "cannot load model 'no-such-model-anywhere'" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_with_the_embedded_default(capsys):
    """No MODEL: the real pretrained Gemma 3 270M continues, greedily and reproducibly.

    It is the pretrained (not instruction-tuned) model: it completes text rather than answering chats."""
    argv = [
        "generate",
        "--prompt",
        "Q: What is the capital of France?\nA:",
        "--raw",
        "--max-new-tokens",
        "12",
        "--json",
    ]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["token_ids"] and "Paris" in first["text"]
