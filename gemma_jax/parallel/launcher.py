"""`gemma-jax launch --processes N [--devices-per-process D] train ...`: one job as N cooperating processes.

It starts the same `gemma-jax train ...` N times with the variables JAX reads to join them
(JAX_COORDINATOR_ADDRESS on 127.0.0.1, JAX_NUM_PROCESSES, JAX_PROCESS_ID), exactly what a user sets
by hand to start one process per shell or per host (tpu/train.sh does that on every host of a slice),
so all three share one code path: `gemma-jax train`. With --devices-per-process each process gets
that many simulated CPU devices, which proves a multi-host layout on one machine.

The launcher watches them: SIGINT/SIGTERM are passed on (they stop together after a checkpoint);
when one process dies, the others notice within the heartbeat timeout and stop; any still running
after GRACE_S are killed, and the user reads which process failed and how to resume.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

GRACE_S = 60  # after one process ended badly, how long the others get to stop by themselves
POLL_S = 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_environment(index: int, processes: int, port: int, devices_per_process: int | None) -> dict[str, str]:
    """The environment of process `index`: JAX's multi-process variables, and simulated CPU devices."""
    env = dict(os.environ)
    env.update(
        JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
        JAX_NUM_PROCESSES=str(processes),
        JAX_PROCESS_ID=str(index),
    )
    if devices_per_process:
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
        env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={devices_per_process}"])
        env["JAX_PLATFORMS"] = "cpu"
    return env


def with_run_id(train_args: list[str], run_id: str) -> list[str]:
    """`train ...` with a --run-id every process shares (a resumed run already names its directory)."""
    if "--resume" in train_args or any(a == "--run-id" or a.startswith("--run-id=") for a in train_args):
        return train_args
    return [*train_args, "--run-id", run_id]


def describe_end(index: int, code: int) -> str:
    if code < 0:
        return f"process {index} was killed by {signal.Signals(-code).name}"
    return f"process {index} exited with status {code}"


class Launch:
    """N processes of one `gemma-jax train` command, started together and ended together."""

    def __init__(self, train_args: list[str], processes: int, devices_per_process: int | None = None):
        if processes < 1:
            raise ValueError(f"--processes must be at least 1, got {processes}")
        if devices_per_process is not None and devices_per_process < 1:
            raise ValueError(f"--devices-per-process must be at least 1, got {devices_per_process}")
        self.train_args = train_args
        self.processes = processes
        self.devices_per_process = devices_per_process
        self.children: list[subprocess.Popen] = []

    def start(self) -> None:
        port = free_port()
        command = [sys.executable, "-m", "gemma_jax.cli", *self.train_args]
        for index in range(self.processes):
            env = process_environment(index, self.processes, port, self.devices_per_process)
            self.children.append(subprocess.Popen(command, env=env, cwd=os.getcwd()))

    def _forward(self, signum, frame) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)

    def wait(self) -> int:
        """Wait for every process; returns 0 when all succeeded, else the first failure's status."""
        previous = {s: signal.signal(s, self._forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            failed_at, failure = None, None
            while any(child.poll() is None for child in self.children):
                for index, child in enumerate(self.children):
                    code = child.poll()
                    if code not in (None, 0) and failure is None:
                        failure, failed_at = (index, code), time.monotonic()
                if failed_at is not None and time.monotonic() - failed_at > GRACE_S:
                    for child in self.children:
                        if child.poll() is None:
                            child.kill()
                time.sleep(POLL_S)
            if failure is None:
                failure = next(((i, c.returncode) for i, c in enumerate(self.children) if c.returncode), None)
            if failure is None:
                return 0
            index, code = failure
            print(
                f"gemma-jax launch: {describe_end(index, code)}; all {self.processes} processes have stopped. "
                "The run keeps its last checkpoint: continue with the same command and `train --resume RUN_DIR` "
                "(any number of processes).",
                file=sys.stderr,
            )
            return code if code > 0 else 128 - code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def launch(train_args: list[str], processes: int, devices_per_process: int | None, run_id: str) -> int:
    """Run `gemma-jax <train_args>` as `processes` cooperating processes; returns the exit status."""
    if not train_args or train_args[0] != "train":
        raise ValueError("launch runs a training job: gemma-jax launch --processes 2 train CONFIG [train options]")
    job = Launch(with_run_id(train_args, run_id), processes, devices_per_process)
    job.start()
    return job.wait()
