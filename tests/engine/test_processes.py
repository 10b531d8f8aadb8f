"""The training process as the runner and users see it: signals, control requests, a hard kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from engine_helpers import fast_config

from gemma_jax.cli import main as cli_main
from gemma_jax.monitor.hardware import detect_hardware
from gemma_jax.runs.run_store import RunStore
from gemma_jax.train.trainer import train_run

pytestmark = pytest.mark.slow

LONG_RUN = ("train.max_steps=60", "checkpoint.every_steps=2", "checkpoint.async_save=true", "data.sequence_length=64")


def _spawn(store: RunStore) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gemma_jax.train", str(store.path), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def _wait_for(store: RunStore, predicate, process: subprocess.Popen, timeout: float = 240.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = store.read_status()
        if predicate(status):
            return status
        if process.poll() is not None:
            raise AssertionError(f"training process exited early: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError(f"timed out; last status {store.read_status()}")


def _losses(store: RunStore) -> dict:
    records, _ = store.read_metrics()
    return {r["step"]: r for r in records if "loss" in r}


def test_sigkill_mid_run_resumes_from_last_committed_checkpoint(tmp_path):
    reference = RunStore.create(fast_config(tmp_path / "ref", *LONG_RUN))
    assert train_run(str(reference.path), progress=False) == "completed"

    store = RunStore.create(fast_config(tmp_path / "run", *LONG_RUN))
    process = _spawn(store)
    status = _wait_for(store, lambda s: s.get("step", 0) >= 15, process)
    process.kill()
    process.wait()
    assert status["step"] < 60, "the kill must land mid-run"

    assert train_run(str(store.path), progress=False) == "completed"
    resumed = _losses(store)
    restarts = [r for r in store.read_metrics()[0] if r.get("event") == "resumed"]
    assert restarts and restarts[0]["step"] >= 2  # a committed checkpoint from before the kill
    expected = _losses(reference)
    for step in range(restarts[0]["step"] + 1, 61):
        assert abs(resumed[step]["loss"] - expected[step]["loss"]) < 1e-5, step
        assert resumed[step]["batch_crc"] == expected[step]["batch_crc"], step


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_and_exits_cleanly(tmp_path, signum):
    store = RunStore.create(fast_config(tmp_path, *LONG_RUN, "checkpoint.every_steps=1000"))
    process = _spawn(store)
    _wait_for(store, lambda s: s.get("step", 0) >= 3, process)
    process.send_signal(signum)
    assert process.wait(timeout=120) == 0
    status = store.read_status()
    assert status["state"] == "aborted" and signum.name in status["error"] and "--resume" in status["error"]
    assert status["last_checkpoint_step"] == status["step"] >= 3
    assert str(status["step"]) in os.listdir(store.path / "checkpoints")
    if sys.platform.startswith("linux") and detect_hardware().kind == "cpu":  # the spawned trainer kept its buffers
        assert "freed step buffers stay mapped" in store.log_path.read_text()


def test_pause_resume_save_through_control_requests_and_generate(tmp_path, capsys):
    store = RunStore.create(fast_config(tmp_path, *LONG_RUN, "checkpoint.every_steps=1000"))
    process = _spawn(store)
    _wait_for(store, lambda s: s.get("step", 0) >= 2, process)
    assert cli_main(["control", str(store.path), "pause"]) == 0
    paused = _wait_for(store, lambda s: s.get("state") == "paused", process)
    time.sleep(1.0)
    assert store.read_status()["step"] == paused["step"], "no steps while paused"
    store.request("save")  # a save request while paused saves, then carries on
    _wait_for(store, lambda s: s.get("last_checkpoint_step") == paused["step"], process)
    assert process.wait(timeout=240) == 0
    status = store.read_status()
    assert status["state"] == "completed" and status["step"] == 60

    capsys.readouterr()
    assert (
        cli_main(
            [
                "generate",
                str(store.path),
                "--prompt",
                "What is the capital of France?",
                "--max-new-tokens",
                "6",
                "--json",
            ]
        )
        == 0
    )
    output = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert isinstance(output["text"], str) and isinstance(output["token_ids"], list)

    assert cli_main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert store.path.name in table and "completed" in table
