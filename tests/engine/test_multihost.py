"""A job as 2 cooperating processes x 2 CPU devices (jax.distributed over gloo), as on a TPU slice.

The same losses as 1 process with 4 devices; only process 0 writes the run directory; a process
killed mid-run ends the other within 60 s with a plain message; the run resumes on 1 process with 4
devices and on 2 processes with the losses of the run that was never interrupted.
"""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gemma_jax.parallel.launcher import free_port, process_environment

pytestmark = pytest.mark.slow

STEPS = 12
CONFIG = {
    "name": "multihost",
    "model": {"source": "tiny:gemma3", "dtype": "float32"},  # compared to 1e-5: float32 on every CPU
    "data": {"sequence_length": 64},
    "train": {"batch_size": 8, "max_steps": STEPS, "log_every_steps": 1},
    # constant: a run's learning rates do not depend on max_steps, so a long run cut short compares
    "schedule": {"name": "constant"},
    "eval": {"every_steps": 0, "sample_every_steps": 0},
    "checkpoint": {"async_save": False, "every_steps": 4},
}
TOLERANCE = 1e-5


def _config(tmp_path: Path, **train) -> Path:
    config = json.loads(json.dumps(CONFIG))
    config["runs_dir"] = str(tmp_path / "runs")
    config["train"].update(train)
    path = tmp_path / f"job-{len(list(tmp_path.glob('job-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _gemma_jax(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gemma_jax.cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _one_process(*args: str, devices: int = 4) -> subprocess.CompletedProcess:
    env = process_environment(0, 1, 0, devices)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name)
    return _gemma_jax(*args, env=env)


def _losses(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def _steps_done(run_dir: Path) -> int:
    return max(_losses(run_dir), default=0) if (run_dir / "metrics.jsonl").exists() else 0


def _assert_same_losses(run_dir: Path, reference: dict[int, float], steps) -> None:
    losses = _losses(run_dir)
    for step in steps:
        assert abs(losses[step] - reference[step]) <= TOLERANCE, (step, losses[step], reference[step])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[int, float]:
    """The uninterrupted run on 1 process with 4 devices."""
    tmp_path = tmp_path_factory.mktemp("reference")
    done = _one_process("train", str(_config(tmp_path)), "--run-id", "one", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    return _losses(tmp_path / "runs" / "one")


def test_two_processes_train_like_one_and_only_process_0_writes(tmp_path, reference):
    done = _gemma_jax(
        "launch", "--processes", "2", "--devices-per-process", "2", "train", str(_config(tmp_path)), "--no-progress"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    _assert_same_losses(run_dir, reference, range(1, STEPS + 1))
    records = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(records) == STEPS  # one writer: no record twice
    log = (run_dir / "log.txt").read_text()
    assert "[process 1]" not in log and log.count("completed 12 steps") == 1
    assert "[process 1] completed 12 steps" in done.stderr  # process 1 logs to its own stderr
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "completed" and status["hardware"]["processes"] == 2
    assert sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()) == [4, 8, 12]


def test_two_vertex_ai_replicas_train_like_one_from_cluster_spec_alone(tmp_path, reference):
    """Vertex AI's multi-pool job: each replica gets CLUSTER_SPEC and no JAX_* variables."""
    port, config = free_port(), _config(tmp_path)
    cluster = {"workerpool0": [f"127.0.0.1:{port}"], "workerpool1": ["127.0.0.1:1"]}
    processes = []
    for task in ({"type": "workerpool0", "index": 0}, {"type": "workerpool1", "index": 0}):
        env = process_environment(0, 1, 0, 2)
        for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
            env.pop(name)
        env["CLUSTER_SPEC"] = json.dumps({"cluster": cluster, "environment": "cloud", "task": task})
        command = [sys.executable, "-m", "gemma_jax.cli", "train", str(config), "--run-id", "vx", "--no-progress"]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
    errors = [p.communicate(timeout=600)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    run_dir = tmp_path / "runs" / "vx"
    _assert_same_losses(run_dir, reference, range(1, STEPS + 1))
    assert json.loads((run_dir / "status.json").read_text())["hardware"]["processes"] == 2
    assert "[process 1] completed 12 steps" in errors[1]


def _start_process(index: int, port: int, config: Path) -> subprocess.Popen:
    env = process_environment(index, 2, port, 2)
    command = [sys.executable, "-m", "gemma_jax.cli", "train", str(config), "--run-id", "cut", "--no-progress"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_killed_process_ends_the_other_and_the_run_resumes_on_any_layout(tmp_path, reference):
    port, config = free_port(), _config(tmp_path, max_steps=400)
    processes = [_start_process(index, port, config) for index in range(2)]
    run_dir = tmp_path / "runs" / "cut"
    try:
        deadline = time.time() + 300
        while _steps_done(run_dir) < 6:  # past the checkpoint at step 4
            assert time.time() < deadline, "the two processes did not reach step 6 in 5 minutes"
            assert all(p.poll() is None for p in processes), processes[0].stderr.read()[-3000:]
            time.sleep(0.1)
        processes[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        processes[0].wait(timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        for process in processes:
            process.kill()
    stderr = processes[0].stderr.read()
    assert processes[0].returncode == 1
    assert "process 0 of 2 stopped because another process of this run stopped answering" in stderr
    assert "Traceback" not in stderr and "Check failure" not in stderr
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "failed" and "stopped answering" in status["error"]
    saved = max(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved >= 4

    for name, command in (
        ("resumed-on-1", lambda d: _one_process("train", "--resume", str(d), "--no-progress")),
        (
            "resumed-on-2",
            lambda d: _gemma_jax(
                "launch", "--processes", "2", "--devices-per-process", "2", "train", "--resume", str(d), "--no-progress"
            ),
        ),
    ):
        copy = tmp_path / "runs" / name
        shutil.copytree(run_dir, copy)
        config_file = copy / "config.yaml"
        config_file.write_text(config_file.read_text().replace("max_steps: 400", f"max_steps: {STEPS}"))
        done = command(copy)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"resumed from checkpoint step {saved}" in (copy / "log.txt").read_text()
        _assert_same_losses(copy, reference, range(saved + 1, STEPS + 1))


def test_a_process_of_several_needs_a_shared_run_id(tmp_path):
    env = process_environment(1, 2, free_port(), 2)
    done = _gemma_jax("train", str(_config(tmp_path)), "--no-progress", env=env)
    assert done.returncode == 2
    assert "give every process the same --run-id NAME" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_launch_refuses_anything_but_train(tmp_path):
    done = _gemma_jax("launch", "--processes", "2", "runs")
    assert done.returncode == 2 and "launch runs a training job" in done.stderr
