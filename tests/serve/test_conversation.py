"""Multi-turn Playground prompts: training's chat template, trimmed to what fits, and said so (no model needed)."""

import io
import json
from types import SimpleNamespace

import pytest

from gemma_jax.data import Example, prompt_text, render_text
from gemma_jax.data.example import Turn
from gemma_jax.serve.conversation import conversation_prompt, fit_conversation, parse_history
from gemma_jax.serve.worker import Worker

HISTORY = [
    {"role": "user", "text": "What is the capital of France?"},
    {"role": "model", "text": "Paris."},
    {"role": "user", "text": "And of Norway?"},
    {"role": "model", "text": "Oslo."},
]


def test_one_turn_is_the_single_prompt_it_always_was():
    assert conversation_prompt([Turn("user", "Hi <b>there</b>")]) == prompt_text("Hi <b>there</b>")


def test_a_conversation_reads_exactly_like_a_training_example_up_to_the_answer():
    """The prompt of turn 3 is the training rendering of the same conversation, cut where the answer starts."""
    turns = [*parse_history(HISTORY), Turn("user", "And of Italy?")]
    prompt = conversation_prompt(turns)
    trained_on = render_text(Example((*turns, Turn("model", "Rome."))))
    assert trained_on.startswith(prompt) and trained_on[len(prompt) :] == "Rome.<end_of_turn>\n"
    assert prompt.count("<start_of_turn>user\n") == 3 and prompt.endswith("<start_of_turn>model\n")
    assert prompt.index("Paris.") < prompt.index("And of Norway?") < prompt.index("Oslo.") < prompt.index("Italy")


def _words(text: str) -> int:
    return 1 + len(text.split())


def test_the_oldest_exchanges_are_left_out_until_it_fits():
    history = parse_history(HISTORY)
    whole = _words(conversation_prompt([*history, Turn("user", "And of Italy?")]))
    fits = fit_conversation(history, "And of Italy?", _words, lambda tokens: None)
    assert (fits.dropped, fits.exchanges, fits.tokens, fits.problem) == (0, 2, whole, None)

    limit = whole - 1  # one word too many: the France exchange goes
    fitted = fit_conversation(history, "And of Italy?", _words, lambda t: "too long" if t > limit else None)
    assert fitted.dropped == 1 and fitted.problem == "too long" and fitted.tokens <= limit
    assert "France" not in fitted.prompt and "Oslo." in fitted.prompt and "Italy" in fitted.prompt

    alone = fit_conversation(history, "And of Italy?", _words, lambda tokens: "never fits")
    assert alone.dropped == 2 and alone.prompt == prompt_text("And of Italy?")  # generation says why it fails


def test_history_must_be_turns():
    assert parse_history(None) == []
    for bad in ("text", [{"role": "system", "text": "x"}], [{"role": "user"}], [["user", "x"]]):
        with pytest.raises(ValueError, match="history|turn"):
            parse_history(bad)


class _Generator:
    """What the worker uses of a Generator: the model's tokenizer and context, the decoder's shape, stream()."""

    def __init__(self, context_length: int):
        self.model = SimpleNamespace(context_length=context_length, tokenizer=SimpleNamespace(encode=str.split))
        self.config = SimpleNamespace(num_layers=1, num_key_value_heads=1, head_dim=8, num_query_heads=1)
        self.prompts: list[str] = []

    def stream(self, text, **options):
        self.prompts.append(text)
        yield "Rome."


def _worker(context_length: int) -> tuple[Worker, io.StringIO, _Generator]:
    replies, generator = io.StringIO(), _Generator(context_length)
    worker = Worker(io.StringIO(), replies)
    worker._models["tuned"] = (generator, {})
    return worker, replies, generator


def _generate(worker: Worker, replies: io.StringIO, **request) -> list[dict]:
    worker._handle({"op": "generate", "id": "r1", "name": "tuned", "max_new_tokens": 8, **request})
    while "r1" in worker._active:
        worker._advance("r1")
    return [json.loads(line) for line in replies.getvalue().splitlines()]


def test_the_worker_sends_the_whole_conversation_in_the_template():
    worker, replies, generator = _worker(context_length=1024)
    events = _generate(worker, replies, prompt="And of Italy?", history=HISTORY)
    assert [e["event"] for e in events] == ["delta", "done"]
    assert generator.prompts == [conversation_prompt([*parse_history(HISTORY), Turn("user", "And of Italy?")])]


def test_the_worker_leaves_out_what_does_not_fit_and_says_so():
    whole = _words(conversation_prompt([*parse_history(HISTORY), Turn("user", "And of Italy?")]))
    worker, replies, generator = _worker(context_length=whole + 8 - 1)  # room for 8 new tokens: one word short
    events = _generate(worker, replies, prompt="And of Italy?", history=HISTORY)
    assert [e["event"] for e in events] == ["note", "delta", "done"]
    note = events[0]
    assert note["dropped"] == 1 and "the 1 oldest of the 2 earlier exchanges" in note["message"]
    assert f"reads at most {whole + 7:,} tokens" in note["message"] and "New chat" in note["message"]
    assert "France" not in generator.prompts[0] and "Oslo." in generator.prompts[0]


def test_a_raw_prompt_takes_no_history():
    worker, replies, _ = _worker(context_length=1024)
    events = _generate(worker, replies, prompt="Once upon", chat=False, history=HISTORY)
    assert events[-1]["event"] == "error" and "takes no history" in events[-1]["message"]


def test_a_prompt_longer_than_the_model_reads_is_refused_with_its_size():
    worker, replies, generator = _worker(context_length=10)
    events = _generate(worker, replies, prompt="one two three four five six seven eight nine ten", chat=False)
    assert [e["event"] for e in events] == ["error"] and generator.prompts == []
    assert events[0]["message"] == (
        "This prompt is 11 tokens; this model reads at most 10 (prompt and answer together). Shorten it."
    )
    worker, replies, generator = _worker(context_length=12)  # with the conversation left out, still too long
    events = _generate(worker, replies, prompt=" ".join(["word"] * 12), history=HISTORY)
    assert [e["event"] for e in events] == ["error"] and generator.prompts == []  # no note before it
    assert events[0]["message"].startswith("This prompt is ") and "left out already" in events[0]["message"]


def test_an_answer_the_context_cuts_short_is_noted():
    worker, replies, _generator = _worker(context_length=8)
    events = _generate(worker, replies, prompt="one two three", chat=False)  # 4 tokens: room for 4 of 8
    assert [e["event"] for e in events] == ["note", "delta", "done"]
    assert events[0]["message"].startswith("The answer can be at most 4 tokens: the prompt takes 4 of the 8")
