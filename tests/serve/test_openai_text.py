"""What the OpenAI app answers for given model tokens: special tokens skipped, default answer lengths.

The app, the scheduler and the rows are the real ones; the decoder is scripted (it writes the same
token ids for every prompt), so an answer with `<start_of_turn>` or `<unused12>` in the middle, which
a tiny random model writes only by chance, is certain here. The vocabulary is a tiny SentencePiece
one with Gemma's markers.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from starlette.testclient import TestClient

from gemma_jax.models.tiny_vocab import train_tiny_vocab
from gemma_jax.models.tokenizer import GemmaTextTokenizer
from gemma_jax.serve.openai.app import ServerSettings, build_app
from gemma_jax.serve.openai.scheduler import Scheduler

TEXTS = ["the quick brown fox jumps over the lazy dog", "héllo wörld 日本 ✓", "pack my box\n\nwith jugs"] * 20
MARKERS = ("<unused12>", "<start_of_image>", "<end_of_image>", "<mask>", "[@BOS@]")
CHAT = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def tokenizer() -> GemmaTextTokenizer:
    # <table> and a run of spaces are user-defined pieces as in Gemma's vocabulary, but text.
    return GemmaTextTokenizer(train_tiny_vocab(TEXTS, vocab_size=384, extra_symbols=(*MARKERS, "<table>", "   ")))


class ScriptedGenerator:
    """Generator's face as the scheduler sees it; every row writes `script` over and over."""

    def __init__(self, tokenizer: GemmaTextTokenizer, script: list[int]):
        self.model = SimpleNamespace(tokenizer=tokenizer, context_length=1024)
        self.stop_ids = (tokenizer.eos_id, tokenizer.end_of_turn_id)
        self.script = script

    def stream_token_columns(self, prompts, max_new_tokens, *, chunk, **sampling):
        tokens = [self.script[i % len(self.script)] for i in range(max_new_tokens)]
        for start in range(0, max_new_tokens, chunk):
            yield np.array([tokens[start : start + chunk]] * len(prompts), np.int32)


def _client(tokenizer, script: list[int], **settings) -> TestClient:
    scheduler = Scheduler(ScriptedGenerator(tokenizer, script), max_batch=4, batch_wait_s=0.001, chunk=3)
    return TestClient(build_app(scheduler, ServerSettings(model_id="m", aliases=frozenset(), **settings)))


def _post(client: TestClient, path: str, body: dict) -> dict:
    reply = client.post(path, json={"model": "m", **body})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _streamed(client: TestClient, path: str, body: dict) -> str:
    with client.stream("POST", path, json={"model": "m", "stream": True, **body}) as reply:
        assert reply.status_code == 200
        events = [line.removeprefix("data: ") for line in reply.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    choices = [json.loads(event)["choices"][0] for event in events[:-1]]
    return "".join(c["text"] if "text" in c else c["delta"].get("content", "") for c in choices)


def test_the_special_ids_are_the_control_pieces_and_gemmas_markers(tokenizer):
    pieces = {tokenizer.id_to_piece(i) for i in tokenizer.special_ids}
    assert pieces == {"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", *MARKERS}


def test_special_tokens_mid_answer_are_not_text(tokenizer):
    """Before, the answer read 'Hello<start_of_turn> world<unused12> ⁇ ...' (SentencePiece writes markers out)."""

    def marker(*texts: str) -> list[int]:
        ids = [tokenizer.encode(text) for text in texts]
        assert all(len(one) == 1 for one in ids), ids  # each marker's text encodes to its one user-defined piece
        return [one[0] for one in ids]

    unk = 3  # Gemma's layout
    assert tokenizer.id_to_piece(unk) == "<unk>" and tokenizer.decode([unk]) == " \u2047 "  # " ⁇ " before
    pieces = [
        tokenizer.encode("\n the"),
        marker("<start_of_turn>"),
        tokenizer.encode(" quick <table>"),
        marker("<unused12>"),
        [unk, tokenizer.pad_id, tokenizer.bos_id],
        tokenizer.encode(" 日本"),
        marker("<start_of_image>", "<mask>", "[@BOS@]", "<end_of_image>"),
        tokenizer.encode("   ✓\n"),
        [tokenizer.eos_id],
    ]
    script = [token for piece in pieces for token in piece]
    exact = "\n the quick <table> 日本   ✓\n"  # the ordinary text, whitespace and <table> kept exactly
    with _client(tokenizer, script) as client:
        completion = _post(client, "/v1/completions", {"prompt": "x", "max_tokens": 40})
        assert completion["choices"][0]["text"] == exact
        assert completion["choices"][0]["finish_reason"] == "stop"
        assert completion["usage"]["completion_tokens"] == len(script) - 1  # skipped tokens still count
        assert _streamed(client, "/v1/completions", {"prompt": "x", "max_tokens": 40}) == exact
        chat = _post(client, "/v1/chat/completions", {"messages": CHAT, "max_tokens": 40})
        assert chat["choices"][0]["message"]["content"] == exact.strip()
        assert _streamed(client, "/v1/chat/completions", {"messages": CHAT, "max_tokens": 40}) == exact.strip()


def test_a_stop_string_is_matched_in_the_text_without_special_tokens(tokenizer):
    script = tokenizer.encode("ab") + tokenizer.encode("<start_of_turn>") + tokenizer.encode("cd ef")
    with _client(tokenizer, script) as client:
        reply = _post(client, "/v1/completions", {"prompt": "x", "max_tokens": 12, "stop": "bc"})
    assert (reply["choices"][0]["text"], reply["choices"][0]["finish_reason"]) == ("a", "stop")


def test_completions_default_to_16_tokens_and_chat_to_256(tokenizer):
    script = tokenizer.encode("the quick brown fox ")
    with _client(tokenizer, script) as client:
        completion = _post(client, "/v1/completions", {"prompt": "x"})
        assert (completion["usage"]["completion_tokens"], completion["choices"][0]["finish_reason"]) == (16, "length")
        chat = _post(client, "/v1/chat/completions", {"messages": CHAT})
        assert (chat["usage"]["completion_tokens"], chat["choices"][0]["finish_reason"]) == (256, "length")
        assert _post(client, "/v1/completions", {"prompt": "x", "max_tokens": 20})["usage"]["completion_tokens"] == 20
    with _client(tokenizer, script, default_max_tokens=5) as client:  # --default-max-tokens 5: both endpoints
        assert _post(client, "/v1/completions", {"prompt": "x"})["usage"]["completion_tokens"] == 5
        assert _post(client, "/v1/chat/completions", {"messages": CHAT})["usage"]["completion_tokens"] == 5


def test_decode_text_skips_what_the_server_skips(tokenizer):
    """`gemma-jax generate`, the Playground and training samples decode through decode_text: the same text."""
    marker_ids = [tokenizer.encode(m)[0] for m in MARKERS]
    words = tokenizer.encode("the quick <table>   fox")
    ids = [words[0], *marker_ids, *words[1:], tokenizer.start_of_turn_id]
    assert tokenizer.decode_text(ids) == "the quick <table>   fox"
    assert "<unused12>" in tokenizer.decode(ids)  # decode keeps every piece (previews, loss positions)


def _streamed_usage(client: TestClient, path: str, body: dict) -> tuple[str, dict]:
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}, **body}
    with client.stream("POST", path, json=body) as reply:
        assert reply.status_code == 200
        events = [line.removeprefix("data: ") for line in reply.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    choices = [chunk["choices"][0] for chunk in chunks if chunk["choices"]]
    text = "".join(c["text"] if "text" in c else c["delta"].get("content", "") for c in choices)
    return text, chunks[-1]["usage"]


@pytest.mark.parametrize(
    ("stop", "text", "tokens"),
    [
        ("fox", "the quick brown ", 4),  # "▁fox", the chunk's first token, completes it (the chunk is 3 tokens)
        ("fox j", "the quick brown ", 5),  # completed by "▁jumps", the chunk's second
        ("fox ", "the quick brown ", 5),  # the space comes with "▁jumps"
        ("brown", "the quick ", 3),  # the first chunk's last token
        ("he", "t", 1),
    ],
)
def test_a_stop_string_counts_the_tokens_up_to_the_one_that_completed_it(tokenizer, stop, text, tokens):
    """Before, usage counted the whole decode chunk the stop string was found in (6 tokens for "fox")."""
    script = tokenizer.encode("the quick brown fox jumps over the lazy dog")
    assert len(script) == 9  # one token a word
    with _client(tokenizer, script) as client:
        for path, body in [
            ("/v1/completions", {"prompt": "x", "max_tokens": 12, "stop": [stop]}),
            ("/v1/chat/completions", {"messages": CHAT, "max_tokens": 12, "stop": [stop]}),
        ]:
            want = text  # a chat answer too keeps the space before the stop string
            reply = _post(client, path, body)
            choice = reply["choices"][0]
            assert (choice.get("text", choice.get("message", {}).get("content")), choice["finish_reason"]) == (
                want,
                "stop",
            )
            assert reply["usage"]["completion_tokens"] == tokens
            assert _streamed_usage(client, path, body) == (want, {**reply["usage"]})


def test_a_stop_string_after_special_tokens_counts_them(tokenizer):
    """Special tokens before the completing token count (they were generated); the ones after do not."""
    marker = tokenizer.encode("<unused12>")[0]
    script = [*tokenizer.encode("the"), marker, marker, *tokenizer.encode(" quick"), marker, *tokenizer.encode(" fox")]
    with _client(tokenizer, script) as client:
        reply = _post(client, "/v1/completions", {"prompt": "x", "max_tokens": 12, "stop": "quick"})
    assert reply["choices"][0]["text"] == "the "
    assert reply["usage"]["completion_tokens"] == 4  # the, two markers, quick (the chunk is 3 tokens)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        (
            "/v1/chat/completions",
            '{"model": "m", "messages": [{"role": "user", "content": "Hi \\ud800"}]}',
            "messages[0].content",
        ),
        ("/v1/completions", '{"model": "m", "prompt": "Hi \\udfff there"}', "prompt"),
        ("/v1/completions", '{"model": "m", "prompt": "Hi", "stop": ["a", "\\ud83d"]}', "stop[1]"),
        ("/v1/completions", '{"model": "\\ud800", "prompt": "Hi"}', "model"),
        ("/predict", '{"instances": [{"prompt": "\\ud800"}]}', "instances[0].prompt"),
        ("/predict", '{"instances": [{"prompt": "x"}], "parameters": {"stop": "\\udc00"}}', "parameters.stop"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(tokenizer, path, body, param):
    """Before, JSON's "\\ud800" escape reached the tokenizer (or the error's own JSON): a plain-text 500."""
    with _client(tokenizer, tokenizer.encode("the"), predict_route="/predict") as client:
        reply = client.post(path, content=body.encode(), headers={"content-type": "application/json"})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        assert "surrogate" in error["message"]
        # a whole surrogate pair is one character (U+1F600), served as usual
        good = '{"model": "m", "messages": [{"role": "user", "content": "Hi \\ud83d\\ude00"}], "max_tokens": 2}'
        assert client.post("/v1/chat/completions", content=good.encode()).status_code == 200
