"""The runner's rules on real run directories, without training: the queue, refusals, dead runs.

A live run here is one whose status names this test process (alive for sure), so the
runner adopts it and its single slot is taken; nothing is ever started or signalled.
"""

import os
import socket
import subprocess
import sys

import pytest
from engine_helpers import fast_config

from gemma_jax.config import ConfigError, apply_overrides
from gemma_jax.jobs import JobError, JobRunner
from gemma_jax.runs.run_store import RunStore


def _run(cfg, run_id, **status):
    store = RunStore.create(cfg, run_id)
    if status:
        store.update_status(**status)
    return store


@pytest.fixture
def runs(tmp_path):
    cfg = fast_config(tmp_path, "train.max_steps=4", "data.sequence_length=32")
    live = _run(cfg, "live", state="running", pid=os.getpid(), host=socket.gethostname(), launcher="runner")
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()
    dead = _run(cfg, "dead", state="running", pid=dead_pid.pid, host=socket.gethostname(), pid_started=1.0)
    dead.log("loading model tiny:gemma3")
    dead.log("the last thing it said")
    failed = _run(cfg, "failed", state="failed", error="boom", last_checkpoint_step=3)
    (failed.checkpoints_dir / "3").mkdir()
    aborted = _run(cfg, "aborted", state="aborted", error="stopped")
    done = _run(cfg, "done", state="completed")
    cli = _run(cfg, "cli")  # RunStore.create leaves "queued" without a launcher: a CLI run starting up
    runner = JobRunner([tmp_path / "runs"], slots=1)
    yield cfg, runner, {s.run_id: s for s in (live, dead, failed, aborted, done, cli)}
    runner.close()


def test_reattach_adopts_live_runs_and_fails_dead_ones_with_their_last_log_lines(runs):
    _, runner, store = runs
    found = runner.reattach()
    assert found == {"attached": [str(store["live"].path)], "failed": [str(store["dead"].path)], "queued": []}
    status = store["dead"].read_status()
    assert status["state"] == "failed"
    assert "exited without finishing" in status["error"] and "the last thing it said" in status["error"]
    assert "exited without finishing" in store["dead"].read_log()[0]
    assert runner.active() == [str(store["live"].path)]
    assert store["live"].read_status()["state"] == "running"  # a live run is left alone


def test_resume_queues_failed_and_aborted_runs_and_says_where_they_continue(runs):
    _, runner, store = runs
    runner.reattach()
    assert runner.resume(store["failed"]) == "queued to resume from checkpoint step 3"
    message = runner.resume(store["aborted"].path)
    assert "step 0" in message and "no checkpoint" in message
    assert message in store["aborted"].read_log()[0]
    # the one slot is held by the live run, so both wait, oldest request first; the CLI run never queues
    assert runner.queue() == [str(store["failed"].path), str(store["aborted"].path)]
    runner.poll()
    assert runner.active() == [str(store["live"].path)]
    status = store["failed"].read_status()
    assert status["state"] == "queued" and status["launcher"] == "runner" and status["error"] is None
    with pytest.raises(JobError, match="completed.*new run from its config"):
        runner.resume(store["done"])
    with pytest.raises(JobError, match="is running"):
        runner.resume(store["live"])


def test_queued_runs_stop_without_a_process_and_only_ended_runs_delete(runs):
    _, runner, store = runs
    runner.reattach()
    runner.resume(store["failed"])
    with pytest.raises(JobError, match="is queued; stop it first"):
        runner.delete(store["failed"])
    with pytest.raises(JobError, match="is running; stop it first"):
        runner.delete(store["live"])
    runner.stop(store["failed"])
    assert store["failed"].read_status()["state"] == "aborted"
    assert runner.queue() == []
    runner.delete(store["failed"])
    runner.delete(store["done"].path)
    assert not store["failed"].path.exists() and not store["done"].path.exists()
    with pytest.raises(JobError, match="no such run directory"):
        runner.delete(store["done"].path)
    with pytest.raises(JobError, match="is aborted; only a queued, running or paused run can be stopped"):
        runner.stop(store["aborted"])


def test_requests_reach_only_live_runs(runs):
    _, runner, store = runs
    runner.reattach()
    assert runner.pause(store["live"])["action"] == "pause"
    assert store["live"].read_control()["action"] == "pause"
    assert runner.unpause(store["live"])["action"] == "resume"
    assert runner.save_now(store["live"])["action"] == "save"
    request = runner.set_learning_rate(store["live"], 1e-4)
    assert request["action"] == "set_lr" and request["value"] == 1e-4
    with pytest.raises(JobError, match="positive number"):
        runner.set_learning_rate(store["live"], -1.0)
    with pytest.raises(JobError, match="is completed; only a running or paused run"):
        runner.pause(store["done"])
    with pytest.raises(JobError, match="is failed"):  # the dead run is found dead on the way
        runner.save_now(store["dead"])


def test_submit_validates_and_queues_behind_a_full_slot(runs, tmp_path):
    cfg, runner, _ = runs
    runner.reattach()
    with pytest.raises(ConfigError) as err:
        runner.submit(apply_overrides(cfg, ["train.batch_size=0", "optimizer.learning_rate=-1"]))
    assert len(err.value.problems) >= 2
    other = apply_overrides(cfg, [f"runs_dir={tmp_path / 'elsewhere'}"])
    submitted = runner.submit(other, run_id="new")
    assert submitted.path == (tmp_path / "elsewhere" / "new").resolve()
    status = submitted.read_status()
    assert status["state"] == "queued" and status["launcher"] == "runner"
    assert runner.queue() == [str(submitted.path)]  # its runs folder is watched from now on
    assert runner.clone_config(submitted) == other
    assert not (submitted.path / "process.log").exists()
    assert runner.reattach()["queued"] == [str(submitted.path)]


@pytest.mark.parametrize("kind, expected", [("tpu", "cpu"), ("gpu", None), ("cpu", None)])
def test_side_processes_leave_the_tpu_to_jobs(runs, monkeypatch, kind, expected):
    """No TPU here: the hardware is given. Only a TPU host sends side processes to the CPU, job or not."""
    from gemma_jax.jobs import runner as runner_module
    from gemma_jax.monitor import Hardware

    _, runner, _ = runs
    runner.env.pop("JAX_PLATFORMS", None)
    monkeypatch.setattr(runner_module, "detect_hardware", lambda: Hardware(kind, kind, 4, 16 * 2**30, 64 * 2**30))
    assert runner.side_process_env().get("JAX_PLATFORMS") == expected  # no job yet: a later one needs the chips
    runner.reattach()  # adopts the live run
    assert runner.side_process_env().get("JAX_PLATFORMS") == expected
    assert "JAX_PLATFORMS" not in runner.env  # the jobs themselves keep the accelerator
