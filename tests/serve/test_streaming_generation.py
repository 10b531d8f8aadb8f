"""Streamed generation: the same tokens as one compiled call, in pieces; top-p sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gemma_jax.data import prompt_text
from gemma_jax.models.decoding.sampling import next_tokens
from gemma_jax.models.decoding.text_stream import TextDeltas
from gemma_jax.models.generation import Generator
from gemma_jax.models.loading import load_model

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "pack my box with five dozen liquor jugs",
    "héllo wörld ✓ ok",
] * 30


@pytest.fixture(scope="module")
def generator():
    return Generator(load_model("tiny:gemma3", vocab_texts=TEXTS), max_length=96, weights="float32")


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_greedy_stream_equals_one_call(generator, chunk):
    prompt = prompt_text("the quick brown")
    whole = generator.generate_ids([prompt], max_new_tokens=40)[0]
    pieces = list(generator.stream(prompt, max_new_tokens=40, chunk=chunk))
    assert "".join(pieces) == whole.text
    assert len(pieces) > 1 or len(whole.token_ids) <= chunk  # it really came in pieces
    assert all(pieces)


def test_sampled_stream_equals_one_call_with_the_same_seed(generator):
    prompt = prompt_text("pack my box")
    options = {"max_new_tokens": 30, "temperature": 1.0, "top_k": None, "top_p": 0.9, "seed": 3}
    whole = generator.generate([prompt], **options)[0]
    assert "".join(generator.stream(prompt, chunk=4, **options)) == whole
    other = [generator.generate([prompt], **{**options, "seed": s})[0] for s in (4, 5, 6)]
    assert any(text != whole for text in other)  # the seed matters


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = jnp.log(jnp.tile(jnp.array([[0.5, 0.3, 0.15, 0.05]], jnp.float32), (2000, 1)))  # 2000 draws at once
    draws = np.asarray(next_tokens(logits, jax.random.key(0), jnp.float32(1.0), 4, jnp.float32(0.7)))
    assert set(draws) == {0, 1}  # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: tokens 2 and 3 are cut
    assert 0.58 < np.mean(draws == 0) < 0.67  # renormalised: 0.5 / 0.8
    tiny = np.asarray(next_tokens(logits, jax.random.key(1), jnp.float32(1.0), 4, jnp.float32(0.01)))
    assert set(tiny) == {0}  # the most likely token always stays
    everything = np.asarray(next_tokens(logits, jax.random.key(2), jnp.float32(1.0), 4, jnp.float32(1.0)))
    assert set(everything) == {0, 1, 2, 3}  # top_p = 1 cuts nothing


def test_bad_top_p_is_refused(generator):
    with pytest.raises(ValueError, match="top_p"):
        list(generator.stream("hi", temperature=1.0, top_p=1.5))


def test_multi_byte_characters_split_over_tokens_come_out_whole(generator):
    tokenizer = generator.model.tokenizer
    ids = tokenizer.encode("日本語 ✓ ok")
    assert len(ids) > 4 and tokenizer.id_to_piece(ids[0]).startswith("<0x")  # byte-fallback pieces
    deltas = TextDeltas(tokenizer.decode)
    pieces = [deltas.add([token]) for token in ids] + [deltas.add([], final=True)]
    assert "".join(pieces) == tokenizer.decode(ids).strip() == "日本語 ✓ ok"
    assert not any("\ufffd" in piece for piece in pieces)
    assert pieces[:3] == ["", "", "日"]  # held back until its third byte arrived
    # A raw continuation keeps its whitespace: prompt + text is the model's text, and "\n" stops can see it.
    spaced = tokenizer.encode("\n\n  ok ✓ \n")
    exact = TextDeltas(tokenizer.decode, strip=False)
    pieces = [exact.add([token]) for token in spaced] + [exact.add([], final=True)]
    assert "".join(pieces) == tokenizer.decode(spaced) and "".join(pieces).startswith("\n\n")
