"""A training process the runner tracks, and the run-directory facts the runner reads about it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gemma_jax.jobs.processes import reap
from gemma_jax.runs.liveness import process_alive
from gemma_jax.runs.run_store import RunDirError, RunStore


@dataclasses.dataclass
class Job:
    """A live training process occupying a slot: one this runner spawned, or one it adopted."""

    pid: int
    started: float | None  # the process's creation time, so a reused pid is not mistaken for it
    process: subprocess.Popen | None = None  # set only for our own children (which we must reap)
    stopping: bool = False
    exit_code: int | None = None

    def ended(self) -> bool:
        if self.process is not None:
            self.exit_code = self.process.poll()
            return self.exit_code is not None
        code = reap(self.pid)  # an adopted job may still be our child (runner re-created in-process)
        if code is not None:
            self.exit_code = code
            return True
        return not process_alive(self.pid, self.started)


def run_path(run: str | os.PathLike[str] | RunStore) -> Path:
    return (run.path if isinstance(run, RunStore) else Path(run)).resolve()


def read_status(store: RunStore) -> dict[str, Any] | None:
    try:
        return store.read_status()
    except (RunDirError, OSError):
        return None


def checkpoint_step(store: RunStore, status: Mapping[str, Any]) -> int | None:
    """The newest committed local checkpoint step, else the one status.json last recorded."""
    try:
        steps = [int(p.name) for p in store.checkpoints_dir.iterdir() if p.name.isdigit()]
    except OSError:
        steps = []
    if steps:
        return max(steps)
    step = status.get("last_checkpoint_step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None
