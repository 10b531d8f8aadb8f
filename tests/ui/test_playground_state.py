"""Playground state: checkpoint picking, clear refusals, a worker that fails, and real streamed answers."""

import sys
import threading
import time
from pathlib import Path

import panel as pn
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from tiny_runs import tiny_run, untrained_run
from ui_helpers import make_session

from gemma_jax.serve import GenerationClient
from ui.state.playground import PlaygroundState
from ui.views.playground import PlaygroundPage


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
        assert state.tuned_output and state.base_output and state.tuned_output != state.base_output
        assert state.tuned_label == "Fine-tuned (step 3)" and state.status == "Done."

        state.temperature, state.top_k, state.max_new_tokens = 1.0, 0, 2000  # long enough to stop midway
        assert state.generate()
        deadline = time.monotonic() + 120
        while not state.tuned_output and time.monotonic() < deadline:
            time.sleep(0.05)
            state.poll()
        state.stop()
        state.wait(60)
        assert not state.running and state.status == "Stopped."
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
