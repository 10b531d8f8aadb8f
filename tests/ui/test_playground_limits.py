"""Playground limits: a long prompt is sent whole or refused with its size (never cut without a word), and a
prompt longer than a model reads, or an answer that comes back empty, says so on each model's side."""

import sys
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from test_playground_state import _Chat, _chat_state
from tiny_runs import tiny_run
from ui_helpers import make_session

from gemma_jax.serve.client import GenerationError
from ui.serve import WEBSOCKET_MAX_BYTES
from ui.state.playground import BASE, NO_ANSWER, PROMPT_MAX_CHARS, TOO_LONG, TUNED, PlaygroundState, exchange
from ui.views.playground import PROMPT_BOX_CHARS, PlaygroundPage
from ui.views.safe_text import escape_text

TOO_LONG_MESSAGE = (
    "This prompt is 1,530 tokens; this model reads at most 1,024 (prompt and answer together). Shorten it."
)
LONG_PROMPT = ("Read this passage about the capitals of Europe and the rivers that cross them. " * 230)[:18_550] + (
    " What is the capital of Norway?"
)  # the 18,600-character prompt of the browser walk: the box cut it at 5,000 characters ("…What is t")


def _alerts(column: pn.Column) -> list[str]:
    return [str(alert.object) for alert in column.select(pn.pane.Alert) if alert.visible]


def test_the_prompt_box_takes_long_prompts_and_its_own_limit_cannot_cut_text_silently(tmp_path):
    page = PlaygroundPage(make_session(tmp_path))
    assert page.prompt.max_length == PROMPT_BOX_CHARS > PROMPT_MAX_CHARS >= 200_000 > len(LONG_PROMPT)
    # A box filled to its limit (the browser cut a longer paste there) is over what is sent: refused, not sent cut.
    assert PROMPT_BOX_CHARS > PROMPT_MAX_CHARS
    # Its text travels in one websocket message: even as JSON escapes (6 bytes a character) it fits the limit.
    assert 6 * PROMPT_BOX_CHARS < WEBSOCKET_MAX_BYTES
    assert not page.prompt_warning.visible
    page.prompt.value_input = "x" * (PROMPT_MAX_CHARS + 1)  # typed or pasted, not sent yet
    assert page.prompt_warning.visible and "200,001 characters" in str(page.prompt_warning.object)
    page.prompt.value_input = LONG_PROMPT
    assert not page.prompt_warning.visible


def test_a_long_prompt_is_sent_whole(tmp_path):
    client = _Chat()
    state = _chat_state(tmp_path, client)
    page = PlaygroundPage(state.session, state)
    page.prompt.value = LONG_PROMPT  # what the browser commits
    assert state.generate()
    state.wait(30)
    assert {prompt for _name, prompt, _history in client.calls} == {LONG_PROMPT}
    assert state.tuned_history[0]["text"] == LONG_PROMPT


def test_a_prompt_over_the_limit_is_refused_with_its_size(tmp_path):
    client = _Chat()
    state = _chat_state(tmp_path, client)
    state.prompt = "x" * (PROMPT_MAX_CHARS + 1)
    assert not state.generate() and not state.running and client.calls == []
    assert state.error == (
        "The prompt is 200,001 characters; the Playground takes at most 200,000 (more than any model here "
        "reads). Shorten it."
    )
    assert len(state.prompt) == PROMPT_MAX_CHARS + 1  # kept, to be shortened
    state.prompt = "x" * PROMPT_MAX_CHARS
    assert state.generate()
    state.wait(30)
    assert not state.error and client.calls[0][1] == state.tuned_history[0]["text"]


class _TooLong(_Chat):
    """The worker's refusal of a prompt longer than the model reads (the proposed gemma_jax.serve.worker change)."""

    def stream(self, name, prompt, **options):
        self.calls.append((name, prompt, list(options.get("history", ()))))
        raise GenerationError(TOO_LONG_MESSAGE)
        yield ""


def test_a_prompt_longer_than_the_model_reads_says_so_on_each_side(tmp_path):
    state = _chat_state(tmp_path, _TooLong())
    page = PlaygroundPage(state.session, state)
    state.tuned_history = state.base_history = exchange("earlier", "answer")
    state.prompt = LONG_PROMPT
    assert state.generate()
    state.wait(30)
    assert TOO_LONG.match(TOO_LONG_MESSAGE)
    # The whole message on each side; no "New chat" hint: the worker already left the conversation out.
    assert state.tuned_error == state.base_error == TOO_LONG_MESSAGE
    assert not state.error and not state.running
    assert state.status == "Failed: neither model could answer (each side says why)."
    assert state.prompt == LONG_PROMPT and state.tuned_history == exchange("earlier", "answer")  # to shorten
    for side in (page.tuned, page.base):
        assert _alerts(side) == [escape_text(TOO_LONG_MESSAGE)]
    assert state.new_chat() and not state.tuned_error and not state.base_error


class _Silent(_Chat):
    """Today's worker with a prompt longer than the model reads: the stream ends at once, with no text."""

    def stream(self, name, prompt, *, history=(), on_note=None, **options):
        self.calls.append((name, prompt, list(history)))
        if history and on_note is not None:
            on_note("The model did not see the earlier exchange")
        return
        yield ""


def test_an_empty_answer_says_why_it_may_be_on_each_side(tmp_path):
    state = _chat_state(tmp_path, _Silent())
    page = PlaygroundPage(state.session, state)
    state.prompt = LONG_PROMPT
    assert state.generate()
    state.wait(30)
    assert state.tuned_note == state.base_note == NO_ANSWER and "shorter prompt" in NO_ANSWER
    assert state.status == "Done, but neither model gave an answer (each side says why)."
    assert state.prompt == LONG_PROMPT and state.tuned_history == []  # nothing joins the conversation
    for side in (page.tuned, page.base):
        assert _alerts(side) == [escape_text(NO_ANSWER)]

    state.tuned_history = state.base_history = exchange("earlier", "answer")
    assert state.generate()
    state.wait(30)
    assert state.tuned_note == f"The model did not see the earlier exchange\n\n{NO_ANSWER}"


def test_a_note_on_a_single_prompt_reaches_its_side(tmp_path):
    class Noting(_Chat):
        def stream(self, name, prompt, *, history=(), on_note=None, **options):
            on_note(f"{name}: the answer was cut to 24 tokens")
            yield "Oslo"

    state = _chat_state(tmp_path, Noting())
    state.prompt = "What is the capital of Norway?"
    assert state.generate()
    state.wait(30)
    assert state.tuned_note == "tuned: the answer was cut to 24 tokens" and state.status == "Done."
    assert state.base_note == "base: the answer was cut to 24 tokens"


def test_one_model_that_answers_nothing_is_named(tmp_path):
    class OneSilent(_Chat):
        def stream(self, name, prompt, **options):
            if name == TUNED:
                yield "Oslo"

    state = _chat_state(tmp_path, OneSilent())
    state.prompt = "What is the capital of Norway?"
    assert state.generate()
    state.wait(30)
    assert state.status == "Done, but the base model gave no answer (its side says why)."
    assert state.base_note == NO_ANSWER and not state.tuned_note
    assert state.tuned_history == exchange("What is the capital of Norway?", "Oslo")  # an answer joins
    assert state.base_history == exchange("What is the capital of Norway?", "")


@pytest.mark.slow  # a worker process loads two tiny models
def test_a_prompt_longer_than_the_tiny_model_reads_is_not_answered_in_silence(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    state = PlaygroundState(session)
    try:
        state.prompt, state.temperature, state.max_new_tokens = LONG_PROMPT, 0.0, 24
        assert state.generate()
        state.wait(300)
        assert not state.running and not state.error, state.error
        for side in (TUNED, BASE):
            error, note = getattr(state, f"{side}_error"), getattr(state, f"{side}_note")
            # With the worker's refusal: "This prompt is N tokens; ..."; before it, the empty answer's note.
            assert TOO_LONG.match(error) and not note, (side, error, note)
        assert state.prompt == LONG_PROMPT and state.tuned_history == []
    finally:
        state.close()
