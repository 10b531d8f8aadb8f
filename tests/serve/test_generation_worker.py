"""The generation worker through GenerationClient: run and base models, streaming, cancel, clear errors."""

import json
import subprocess
import sys
import time

import pytest
from tiny_runs import tiny_run, untrained_run

from gemma_jax.data import prompt_text
from gemma_jax.models.generation import Generator
from gemma_jax.serve import GenerationClient, GenerationError
from gemma_jax.serve.sources import load_source

PROMPT = "What is the capital of France?"
pytestmark = pytest.mark.slow  # a worker process and a trained run: about a minute together


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def tuned_answer(run_dir):
    return _expected(str(run_dir))


@pytest.fixture(scope="module")
def client():
    with GenerationClient() as client:
        yield client


def _expected(source: str, step=None) -> str:
    model, _ = load_source(source, step)
    return Generator(model, max_length=model.context_length).generate([prompt_text(PROMPT)], 24, top_k=None)[0]


def test_tuned_and_base_answers_stream_like_the_cli(client, run_dir, tuned_answer):
    tuned = client.load("tuned", str(run_dir))
    assert tuned["step"] == 3 and tuned["parameters"] > 0 and tuned["source"] == str(run_dir)
    base = client.load("base", client.base_source(run_dir))
    assert base["step"] is None
    options = {"temperature": 0.0, "max_new_tokens": 24}
    tuned_pieces = list(client.stream("tuned", PROMPT, **options))
    base_text = "".join(client.stream("base", PROMPT, **options))
    assert "".join(tuned_pieces) == tuned_answer
    assert base_text == _expected(client.base_source(run_dir))
    assert base_text != "".join(tuned_pieces)  # three steps of training changed the answer
    older = client.load("older", str(run_dir), step=2)
    assert older["step"] == 2


def test_errors_are_clear_and_the_worker_stays_up(client, run_dir, tmp_path, tuned_answer):
    with pytest.raises(GenerationError, match="no checkpoint at step 7"):
        client.load("x", str(run_dir), step=7)
    with pytest.raises(GenerationError, match="does not exist"):
        client.load("x", str(tmp_path / "no-such-run"))
    with pytest.raises(GenerationError, match="no checkpoint yet"):
        client.load("x", str(untrained_run(tmp_path)))
    with pytest.raises(GenerationError, match="no model named 'nobody' is loaded"):
        list(client.stream("nobody", PROMPT))
    with pytest.raises(GenerationError, match="top_p"):
        list(client.stream("tuned", PROMPT, top_p=2.0))
    assert client.running
    client.load("tuned", str(run_dir))
    assert "".join(client.stream("tuned", PROMPT, temperature=0.0, max_new_tokens=24)) == tuned_answer


def test_leaving_a_stream_cancels_it(client, run_dir, tuned_answer):
    client.load("tuned", str(run_dir))
    started = time.monotonic()
    for _ in client.stream("tuned", PROMPT, temperature=0.0, max_new_tokens=400):
        break  # closes the stream: the client sends a cancel
    text = "".join(client.stream("tuned", PROMPT, temperature=0.0, max_new_tokens=24))
    assert text == tuned_answer and time.monotonic() - started < 60


def test_the_worker_protocol_reports_cancellation(run_dir):
    worker = subprocess.Popen(
        [sys.executable, "-m", "gemma_jax.serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def send(**message):
        worker.stdin.write(json.dumps(message) + "\n")
        worker.stdin.flush()

    def reply():
        return json.loads(worker.stdout.readline())

    try:
        assert reply() == {"event": "ready"}
        send(id=1, op="load", name="m", source=str(run_dir))
        assert reply()["event"] == "result"
        send(id=2, op="generate", name="m", prompt=PROMPT, temperature=0.0, max_new_tokens=400)
        first = reply()
        assert first["id"] == 2 and first["event"] == "delta"
        send(op="cancel", target=2)
        events = [reply()]
        while events[-1]["event"] == "delta":
            events.append(reply())
        assert events[-1] == {"id": 2, "event": "done", "cancelled": True}
        send(id=3, op="fly")
        assert reply() == {
            "id": 3,
            "event": "error",
            "message": "unknown op 'fly'; use one of load, generate, cancel, shutdown",
        }
        send(op="shutdown")
        assert worker.wait(30) == 0
    finally:
        worker.kill()


def test_a_worker_that_dies_at_start_is_explained_not_a_broken_pipe(tmp_path):
    """The worker closes its input and exits: the user reads its exit code and last words."""
    python = tmp_path / "dying-python"
    python.write_text("#!/bin/sh\nexec 0<&-\necho 'No module named gemma_jax' >&2\nsleep 0.3\nexit 3\n")
    python.chmod(0o755)
    client = GenerationClient(python=str(python))
    with pytest.raises(GenerationError, match=r"exited \(code 3\)[\s\S]*No module named gemma_jax"):
        client.load("tuned", "tiny:gemma3", timeout=10)
    client.close()
