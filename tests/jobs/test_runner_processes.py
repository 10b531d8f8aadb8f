"""The runner with real tiny training processes: queue, graceful stop, a server restart, a kill.

Processes are shared between assertions (each costs ~10 s of JAX start-up): A and D
start together, B waits for A's slot.
"""

import contextlib
import json
import os
import signal
import time

import pytest
from engine_helpers import fast_config

from gemma_jax.jobs import JobError, JobRunner
from gemma_jax.runs.liveness import process_alive
from gemma_jax.runs.run_store import RunStore

pytestmark = pytest.mark.slow
TINY = ("data.sequence_length=32", "eval.every_steps=0", "eval.sample_every_steps=0")
# One plain CPU device per job (not the 8 simulated ones of the test process): less to compile.
ENV = {**{k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, "JAX_PLATFORMS": "cpu"}


def _wait(what, predicate, timeout=180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _state(store: RunStore) -> str:
    return store.read_status()["state"]


@pytest.fixture
def no_jobs_left(tmp_path):
    """Whatever happens in the test, no training process outlives it (a long job would train on)."""
    yield
    for status in tmp_path.rglob("status.json"):
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = json.loads(status.read_text()).get("pid")
        if isinstance(pid, int) and process_alive(pid):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # jobs lead their own process groups


def test_queue_stop_restart_and_kill_with_real_jobs(tmp_path, no_jobs_left):
    long_cfg = fast_config(tmp_path, "train.max_steps=100000", "checkpoint.every_steps=100000", *TINY)
    short_cfg = fast_config(tmp_path, "train.max_steps=4", *TINY)
    cli_run = RunStore.create(short_cfg, "cli")  # queued without a launcher: never the runner's to start

    first = JobRunner([tmp_path / "runs"], slots=1, env=ENV, poll_s=0.2).start()
    a = first.submit(long_cfg, "a")
    b = first.submit(short_cfg, "b")
    assert first.active() == [str(a.path)] and first.queue() == [str(b.path)]
    assert _state(a) == "running" and a.read_status()["launcher_pid"] == a.read_status()["pid"]
    assert _state(b) == "queued"
    with pytest.raises(JobError, match="is running; stop it first"):
        first.delete(a)

    # D runs in another workspace and is SIGKILLed while "the server is down".
    other = fast_config(tmp_path / "other", "train.max_steps=100000", *TINY)
    second = JobRunner([tmp_path / "other" / "runs"], slots=1, env=ENV, poll_s=0.2)
    d = second.submit(other, "d")
    _wait("D's engine to log", lambda: "loading model" in d.read_log()[0])
    second.close()
    d_pid = d.read_status()["pid"]
    os.killpg(d_pid, signal.SIGKILL)
    _wait("D to die", lambda: not process_alive(d_pid))
    found = JobRunner([tmp_path / "other" / "runs"]).reattach()
    assert found == {"attached": [], "failed": [str(d.path)], "queued": []}
    error = d.read_status()["error"]
    assert _state(d) == "failed" and f"process {d_pid} exited without finishing" in error
    assert "last lines of log.txt" in error and "loading model" in error
    # The discarded runner's child is reaped, not left a zombie. A killed multi-threaded process
    # shows as a zombie (dead to psutil) a moment before the kernel lets its parent reap it.
    _wait("the discarded runner to reap D", lambda: second.active() == [], timeout=30.0)

    # A stops gracefully with a checkpoint; B then gets the slot.
    _wait("A's first step", lambda: a.read_status().get("step", 0) >= 1)
    first.stop(a, grace_s=60)
    _wait("A to abort", lambda: _state(a) == "aborted")
    status = a.read_status()
    assert "stop requested" in status["error"] and status["last_checkpoint_step"] == status["step"] >= 1
    assert str(status["step"]) in os.listdir(a.checkpoints_dir)
    _wait("B to start", lambda: str(b.path) in first.active())

    # The server restarts while B is starting up: the new runner adopts B and sees it finish.
    first.close()
    assert _state(b) == "running"
    third = JobRunner([tmp_path / "runs"], slots=1, env=ENV, poll_s=0.2).start()
    try:
        assert third.reattach()["attached"] == [str(b.path)]
        _wait("B to complete", lambda: _state(b) == "completed")
        _wait("B's process to end", lambda: third.active() == [])
        assert b.read_status()["step"] == 4
        assert _state(cli_run) == "queued" and third.queue() == []
        assert not (cli_run.path / "process.log").exists()
    finally:
        third.close()
    _wait("the first runner to reap its children", lambda: first.active() == [], timeout=30)
