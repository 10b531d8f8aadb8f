"""Playground state: checkpoint picking, clear refusals, a worker that fails, real streamed answers, and a
conversation per model that every prompt carries (multi-turn chat)."""

import sys
import threading
import time
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run
from ui_helpers import make_session

from gemma_jax.data.example import Turn
from gemma_jax.serve import GenerationClient
from gemma_jax.serve.conversation import conversation_prompt, parse_history
from ui.state.playground import PlaygroundState, exchange
from ui.views.playground import PlaygroundPage, render_conversation
from ui.views.safe_text import escape_text


def test_without_a_run_or_checkpoint_or_prompt_it_says_what_to_do(tmp_path):
    session = make_session(tmp_path)
    state = PlaygroundState(session)
    assert not state.generate() and "no run in this workspace" in state.error
    untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state.picker.refresh()
    assert state.picker.run == "fresh" and state.picker.param.checkpoint.objects == ["latest"]
    assert not state.generate() and "has no checkpoint yet" in state.error
    assert not state.running


def _run_with_checkpoints(session, tmp_path, *steps: int) -> Path:
    """A run whose checkpoints folder holds step directories (all the picker reads)."""
    run_dir = untrained_run(tmp_path, run_id="tiny", runs_dir=session.workspace.runs_dir)
    for step in steps:
        (run_dir / "checkpoints" / str(step)).mkdir(parents=True)
    (run_dir / "checkpoints" / "3.orbax-checkpoint-tmp-1").mkdir()  # a save in progress is not listed
    return run_dir


def test_picker_lists_checkpoints_and_follows_the_selected_run(tmp_path):
    session = make_session(tmp_path)
    _run_with_checkpoints(session, tmp_path, 2, 3)
    untrained_run(tmp_path, runs_dir=session.workspace.runs_dir)
    state = PlaygroundState(session)
    session.open_run("tiny", page="Playground")
    assert state.picker.run == "tiny"
    assert state.picker.param.checkpoint.objects == ["latest", "3", "2"]
    assert state.picker.resolved_step == 3
    state.picker.checkpoint = "2"
    assert state.picker.arguments()[-2:] == ["--step", "2"]
    assert not state.generate() and state.error == "Type a prompt first."
    state.status = state._status = "Done."  # the last answer's status
    assert not state.generate() and state.status == ""  # not "Done." beside the error
    assert isinstance(PlaygroundPage(session, state).__panel__(), pn.Column)


def test_a_worker_that_cannot_start_is_reported(tmp_path):
    session = make_session(tmp_path)
    _run_with_checkpoints(session, tmp_path, 1)
    state = PlaygroundState(session, client_factory=lambda _session: GenerationClient(python="/bin/false"))
    state.prompt = "hello"
    assert state.generate()
    state.wait(60)
    assert not state.running and state.status == "Failed."
    assert "Generation failed: the generation worker exited (code 1)" in state.error


def test_a_worker_still_starting_when_the_session_closes_is_ended(tmp_path):
    """Closing the browser tab while the worker starts must not leave a process holding two models."""
    session = make_session(tmp_path)
    _run_with_checkpoints(session, tmp_path, 1)
    worker = tmp_path / "worker-python"
    worker.write_text("#!/bin/sh\nexec cat > /dev/null\n")  # a worker that waits for its input to end
    worker.chmod(0o755)
    release, started = threading.Event(), []

    def slow_start(_session):
        release.wait(30)
        client = GenerationClient(python=str(worker))
        client._start()
        started.append(client)
        return client

    state = PlaygroundState(session, client_factory=slow_start)
    state.prompt = "hello"
    assert state.generate()
    state.close()
    release.set()
    state.wait(30)
    assert started and not started[0].running and not state.running


@pytest.mark.slow  # a worker process loads two models: about half a minute
def test_both_answers_stream_and_stop_cancels(tmp_path_factory, tmp_path):
    session = make_session(tmp_path)
    tiny_run(tmp_path_factory, runs_dir=session.workspace.runs_dir)
    state = PlaygroundState(session)
    try:
        state.prompt, state.temperature, state.max_new_tokens = "What is the capital of France?", 0.0, 24
        assert state.generate() and state.running
        state.wait(180)
        assert not state.error, state.error
        tuned, base = state.tuned_history[1]["text"], state.base_history[1]["text"]
        assert tuned and base and tuned != base
        assert state.tuned_label == "Fine-tuned (step 3)" and state.status == "Done."

        state.temperature, state.top_k, state.max_new_tokens = 1.0, 0, 2000  # long enough to stop midway
        state.prompt = "And of Norway?"  # the second turn of the conversation
        assert state.generate()
        deadline = time.monotonic() + 120
        while not state.tuned_output and time.monotonic() < deadline:
            time.sleep(0.05)
            state.poll()
        state.stop()
        state.wait(60)
        assert not state.running and state.status == "Stopped.", state.error
        assert [turn["text"] for turn in state.tuned_history[::2]] == [
            "What is the capital of France?",
            "And of Norway?",
        ]
        assert state.tuned_history[3]["text"]  # a stopped answer joins the conversation as far as it got
    finally:
        state.close()


def test_the_model_own_output_unless_approximate_decoding_is_chosen(tmp_path):
    """Faithful by default: the worker loads with weights "auto"; the int8 switch is an explicit choice."""
    loads = []

    class Recorder:
        def load(self, name, source, step=None, timeout=None, weights="auto"):
            loads.append((name, weights))
            return {"name": name, "step": step, "weights": weights}

    state = PlaygroundState(make_session(tmp_path))
    state._ensure(Recorder(), "tuned", "run", 1)
    state.approximate = True
    state._ensure(Recorder(), "tuned", "run", 1, "int8" if state.approximate else "auto")
    assert loads == [("tuned", "auto"), ("tuned", "int8")]  # a switch reloads the model with the new weights
    assert not PlaygroundState(make_session(tmp_path / "b")).approximate


class _Chat:
    """A GenerationClient stand-in: records what each stream was sent, answers "<model> answer <n>"."""

    def __init__(self, note: str = ""):
        self.calls: list[tuple[str, str, list]] = []
        self.note = note

    def load(self, name, source, step=None, timeout=None, weights="auto"):
        return {"name": name, "step": 1, "weights": weights}

    def base_source(self, run_dir):
        return f"base:{run_dir}"

    def stream(self, name, prompt, *, history=(), on_note=None, **options):
        self.calls.append((name, prompt, list(history)))
        if history and self.note and on_note is not None:
            on_note(self.note)
        yield f"{name} answer "
        yield str(sum(1 for call in self.calls if call[0] == name))

    def close(self):
        pass


def _chat_state(tmp_path, client: _Chat) -> PlaygroundState:
    session = make_session(tmp_path)
    _run_with_checkpoints(session, tmp_path, 1)
    return PlaygroundState(session, client_factory=lambda _session: client)


def _say(state: PlaygroundState, prompt: str) -> None:
    state.prompt = prompt
    assert state.generate()
    state.wait(30)
    assert not state.running and not state.error, state.error


def test_each_model_keeps_its_own_conversation_and_every_prompt_carries_it(tmp_path):
    client = _Chat()
    state = _chat_state(tmp_path, client)
    _say(state, "What is the capital of France?")
    assert state.prompt == "" and state.pending_prompt == ""  # the prompt moved into the conversation
    assert state.tuned_history == exchange("What is the capital of France?", "tuned answer 1")
    assert state.base_history == exchange("What is the capital of France?", "base answer 1")

    _say(state, "And of Norway?")
    sent = {name: (prompt, history) for name, prompt, history in client.calls[2:]}
    assert sent["tuned"] == ("And of Norway?", exchange("What is the capital of France?", "tuned answer 1"))
    assert sent["base"] == ("And of Norway?", exchange("What is the capital of France?", "base answer 1"))
    # What the worker makes of it: the training chat template, the first exchange before the new prompt.
    prompt, history = sent["tuned"]
    formatted = conversation_prompt([*parse_history(history), Turn("user", prompt)])
    assert formatted == (
        "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n"
        "<start_of_turn>model\ntuned answer 1<end_of_turn>\n"
        "<start_of_turn>user\nAnd of Norway?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert len(state.tuned_history) == 4 and state.tuned_history[-1] == {"role": "model", "text": "tuned answer 2"}

    assert state.new_chat()
    assert state.tuned_history == state.base_history == [] and not state.tuned_output
    _say(state, "Hello")
    assert client.calls[-1][2] == []  # a new chat starts with no history


def test_what_the_model_could_not_see_is_noted_and_chat_off_sends_prompts_alone(tmp_path):
    client = _Chat(note="The model did not see the earlier exchange")
    state = _chat_state(tmp_path, client)
    _say(state, "one")
    assert state.tuned_note == ""
    _say(state, "two")
    assert state.tuned_note == state.base_note == "The model did not see the earlier exchange"
    _say(state, "three")
    state.chat = False
    _say(state, "alone")
    assert client.calls[-1][2] == [] and state.tuned_note == ""
    assert state.prompt == "alone" and state.pending_prompt == "alone" and state.tuned_output == "tuned answer 4"
    assert len(state.tuned_history) == 6  # the conversation is kept for when chat is on again


def test_a_failed_answer_gives_the_prompt_back_and_joins_no_conversation(tmp_path):
    class Failing(_Chat):
        def stream(self, name, prompt, **options):
            raise RuntimeError("the prompt is 2,000 tokens")
            yield ""

    state = _chat_state(tmp_path, Failing())
    state.tuned_history = exchange("earlier", "answer")
    state.prompt = "too long"
    assert state.generate()
    state.wait(30)
    assert not state.error  # each model's failure shows on its own side
    assert "the prompt is 2,000 tokens" in state.tuned_error and "New chat" in state.tuned_error
    assert state.base_error == "the prompt is 2,000 tokens"  # the base model had no conversation yet
    assert state.status.startswith("Failed: neither model could answer")
    assert state.prompt == "too long" and state.tuned_history == exchange("earlier", "answer")
    assert state.base_history == [] and not state.pending_prompt


def test_the_conversation_shows_as_escaped_text_in_turns():
    hostile = '<img src=x onerror="window.__pwned=1"> **bold**'
    html = render_conversation(exchange(hostile, "Oslo.\nNorway"), "And of Italy?", "Ro", "Fine-tuned", True)
    assert "<img" not in html and "**" not in html and escape_text(hostile) in html
    assert html.count("gj-turn-user") == 2 and html.count("gj-turn-model") == 2
    assert "Oslo.<br>Norway" in html.replace("&#46;", ".")
    assert "No conversation yet" in render_conversation([], "", "", "Fine-tuned", False)


def test_controls_wrap_and_answers_are_not_disabled_inputs(tmp_path):
    page = PlaygroundPage(make_session(tmp_path))
    controls = page.layout[2]
    assert isinstance(controls, pn.FlexBox) and controls.flex_wrap == "wrap"
    answers = page.tuned.select(pn.widgets.TextAreaInput) + page.base.select(pn.widgets.TextAreaInput)
    assert answers == [] and page.tuned.select(pn.pane.HTML)
    refresh = page.layout[1][-1]
    assert refresh.name == "↻ Refresh" and "checkpoints" in refresh.description


def test_the_switches_are_checkboxes_their_words_toggle_and_they_follow_the_state(tmp_path):
    """Panel's Checkbox puts its words outside the box's <label>: a click on them did nothing."""
    page = PlaygroundPage(make_session(tmp_path))
    assert page.layout.select(pn.widgets.Checkbox) == []
    state = page.state
    for box, name in ((page.approximate, "approximate"), (page.chat, "chat")):
        assert isinstance(box, pn.widgets.CheckBoxGroup) and len(box.options) == 1
        before = getattr(state, name)
        box.value = [] if before else list(box.options)  # what a click on the box or its words sends
        assert getattr(state, name) is (not before)
        setattr(state, name, before)
        assert box.value == (list(box.options) if before else [])
