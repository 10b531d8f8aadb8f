"""The dashboard's job runner: a queue of training processes that outlives the dashboard itself.

The run directories are the queue: a run the runner submitted waits as state "queued" with
`launcher: runner` in status.json, and starts (oldest first) when a slot frees. A started
job is a separate process in its own session, so a restarted server finds it again through
status.json's pid (and pid start time) and adopts it; one that died meanwhile is marked
"failed" with the last lines of its logs. Only runs with `launcher: runner` are ever
started here, so a CLI run that is momentarily "queued" is never started twice.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gemma_jax.config import JobConfig, check
from gemma_jax.jobs.errors import JobError
from gemma_jax.jobs.job import Job, checkpoint_step, read_status, run_path
from gemma_jax.jobs.processes import describe_exit, log_tail, signal_job, spawn_job
from gemma_jax.monitor import detect_hardware
from gemma_jax.runs.liveness import LIVE_STATES, dead_run_error, process_start_time
from gemma_jax.runs.run_store import RunDirError, RunStore
from gemma_jax.runs.schema import State, Status

log = logging.getLogger(__name__)
LAUNCHER = "runner"


class JobRunner:
    """Queue, start, stop and re-attach training jobs; safe to call from several threads.

    `slots` is how many jobs run at once. The default is 1: a job's mesh takes every device
    on the host (all GPUs, all TPU chips, all CPU cores), so a second job would only contend
    for them (and a TPU admits one process). More jobs wait in the queue.
    """

    stop_term_wait_s = 30.0  # after a stop's grace period: SIGTERM (saves), then SIGKILL after this
    kill_term_wait_s = 5.0  # kill(): SIGTERM, then SIGKILL after this

    def __init__(
        self,
        runs_dirs: Sequence[str | os.PathLike[str]] = ("runs",),
        *,
        slots: int | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = 1 if slots is None else slots
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.poll_s = poll_s
        self._lock = threading.RLock()
        self._dirs: list[Path] = []
        self._jobs: dict[Path, Job] = {}
        self._host = socket.gethostname()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        for path in runs_dirs:
            self.add_runs_dir(path)

    # -- the watched runs folders ------------------------------------------------------------
    def add_runs_dir(self, path: str | os.PathLike[str]) -> None:
        """Watch another runs folder (e.g. a new user workspace's); its queued runs join the queue."""
        path = Path(path).resolve()
        with self._lock:
            if path not in self._dirs:
                self._dirs.append(path)

    def _scan(self) -> Iterator[tuple[Path, RunStore, dict[str, Any]]]:
        for root in list(self._dirs):
            try:
                entries = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir())
            except OSError:
                continue
            for path in entries:
                store = RunStore(path)
                status = read_status(store)
                if status is not None:
                    yield path, store, status

    def _open(self, run: str | os.PathLike[str] | RunStore) -> RunStore:
        try:
            return RunStore.open(run_path(run))
        except RunDirError as err:
            raise JobError(str(err)) from None

    # -- scheduling ---------------------------------------------------------------------------
    def poll(self) -> None:
        """One scheduler tick: reap ended processes, adopt or fail live runs, start queued runs."""
        with self._lock:
            self._reap()
            queued = []
            for path, store, status in self._scan():
                if status.get(Status.STATE) in LIVE_STATES:
                    self._check_live(path, store, status)
                elif status.get(Status.STATE) == State.QUEUED and status.get("launcher") == LAUNCHER:
                    queued.append((self._queue_key(status), path))
            for _, path in sorted(queued):
                if len(self._jobs) >= self.slots:
                    break
                self._start(path)

    @staticmethod
    def _queue_key(status: Mapping[str, Any]) -> tuple[float, str]:
        when = status.get("queued_time")
        return (float(when) if isinstance(when, (int, float)) else 0.0, str(status.get(Status.CREATED) or ""))

    def _reap(self) -> None:
        for path, job in list(self._jobs.items()):
            if job.ended():
                del self._jobs[path]
                self._after_exit(path, job)

    def _after_exit(self, path: Path, job: Job) -> None:
        """A process ended: if it could not write its own end (crash, kill), write it for it."""
        store = RunStore(path)
        status = read_status(store)
        if status is None or status.get(Status.STATE) not in LIVE_STATES or status.get(Status.PID) != job.pid:
            return
        if job.stopping:
            step = checkpoint_step(store, status)
            where = f"from checkpoint step {step}" if step is not None else "from step 0 (no checkpoint was saved)"
            message = (
                f"stopped: process {job.pid} did not stop in time and was killed{describe_exit(job.exit_code)}; "
                f"resume continues {where}"
            )
            store.log(message, level="ERROR")
            store.update_status(state="aborted", error=message)
            return
        self._mark_failed(store, f"process {job.pid} exited without finishing{describe_exit(job.exit_code)}")

    def _mark_failed(self, store: RunStore, reason: str) -> None:
        tail = log_tail(store.path)
        store.log(reason, level="ERROR")
        store.update_status(state="failed", error=f"{reason}\n{tail}" if tail else reason)

    def _check_live(self, path: Path, store: RunStore, status: Mapping[str, Any]) -> str | None:
        """A running/paused run: "attached" (tracked, adopted if needed), "failed" (its process is
        gone: marked so), or None (cannot be checked from here: another host, or no pid)."""
        if path in self._jobs:
            return "attached"
        dead = dead_run_error(status)
        if dead:
            self._mark_failed(store, dead)
            return "failed"
        pid = status.get(Status.PID)
        host = status.get(Status.HOST)
        if not isinstance(pid, int) or isinstance(pid, bool) or (host and host != self._host):
            return None
        started = status.get(Status.PID_STARTED)
        self._jobs[path] = Job(pid, started if isinstance(started, (int, float)) else process_start_time(pid))
        return "attached"

    def _start(self, path: Path) -> None:
        store = RunStore(path)
        status = read_status(store)
        if status is None or status.get(Status.STATE) != State.QUEUED or status.get("launcher") != LAUNCHER:
            return
        try:
            process = spawn_job(self.python, path, self.env)
        except OSError as err:
            message = f"could not start the training process ({self.python}): {err}"
            store.log(message, level="ERROR")
            store.update_status(state="failed", error=message)
            return
        self._jobs[path] = Job(process.pid, process_start_time(process.pid), process)
        # Recorded now, not when the engine gets going: a crash while it starts up is then detected too.
        now = read_status(store) or {}
        if now.get(Status.STATE) == State.QUEUED:  # the job may already have written running, or failed with its error
            store.update_status(state="running", pid=process.pid, host=self._host, launcher_pid=process.pid, error=None)
        else:
            store.update_status(pid=process.pid, host=self._host, launcher_pid=process.pid)
        log.info("started %s as process %d", path, process.pid)

    def reattach(self) -> dict[str, list[str]]:
        """Adopt live jobs, mark dead ones failed, and report what is queued (a server's start)."""
        found: dict[str, list[str]] = {"attached": [], "failed": [], "queued": []}
        with self._lock:
            self._reap()
            for path, store, status in self._scan():
                state = status.get(Status.STATE)
                if state in LIVE_STATES:
                    outcome = self._check_live(path, store, status)
                    if outcome:
                        found[outcome].append(str(path))
                elif state == State.QUEUED and status.get("launcher") == LAUNCHER:
                    found["queued"].append(str(path))
        return found

    def queue(self) -> list[str]:
        """Runs waiting to start, the next first."""
        with self._lock:
            queued = [
                (self._queue_key(status), str(path))
                for path, _, status in self._scan()
                if status.get(Status.STATE) == State.QUEUED and status.get("launcher") == LAUNCHER
            ]
        return [path for _, path in sorted(queued)]

    def active(self) -> list[str]:
        """Runs whose process is alive (each holds a slot)."""
        with self._lock:
            self._reap()
            return [str(path) for path in self._jobs]

    def side_process_env(self) -> dict[str, str]:
        """The environment for generation, evaluation and export processes started beside the jobs.

        A TPU can be opened by one process only, and a long-lived playground worker that took it
        would block every job queued after it: on a TPU host side processes always run on the CPU
        (slower, but they never fail for want of the chips nor take them from a job). GPUs are shared.
        """
        env = dict(self.env)
        kind = detect_hardware().kind
        if kind == "tpu":
            env["JAX_PLATFORMS"] = "cpu"
        elif kind == "gpu":  # JAX would reserve 75% of the GPU's memory and starve the job
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return env

    # -- actions ------------------------------------------------------------------------------
    def submit(self, cfg: JobConfig, run_id: str | None = None) -> RunStore:
        """Validate `cfg` (ConfigError with every problem), create its run directory queued, and
        start it at once when a slot is free."""
        check(cfg)
        with self._lock:
            store = RunStore(RunStore.create(cfg, run_id).path.resolve())
            self.add_runs_dir(store.path.parent)
            store.update_status(launcher=LAUNCHER, queued_time=time.time())
            store.log("queued by the job runner")
            self.poll()
        return store

    def resume(self, run: str | os.PathLike[str] | RunStore) -> str:
        """Put a failed or aborted run back in the queue; it continues from its last checkpoint.
        Returns (and logs) what will happen, e.g. that a run without a checkpoint restarts at 0."""
        with self._lock:
            store = self._open(run)
            state = self._state(store)
            if state == State.COMPLETED:
                raise JobError(f"run {store.run_id} has completed; to train more, start a new run from its config")
            if state in ("queued", "running", "paused"):
                hint = "use Resume (unpause) to continue it" if state == State.PAUSED else "nothing to resume"
                raise JobError(f"run {store.run_id} is {state}; {hint}")
            if state not in ("failed", "aborted"):
                raise JobError(f"run {store.run_id} cannot be resumed: its status.json is unreadable ({state})")
            step = checkpoint_step(store, store.read_status())
            message = (
                f"queued to resume from checkpoint step {step}"
                if step is not None
                else "queued to restart from step 0: the run saved no checkpoint"
            )
            store.update_status(
                state="queued", launcher=LAUNCHER, queued_time=time.time(), pid=None, launcher_pid=None, error=None
            )
            store.log(message)
            self.add_runs_dir(store.path.parent)
            self.poll()
        return message

    def _state(self, store: RunStore) -> str:
        """The run's state with a dead process accounted for (marked failed first)."""
        self._reap()
        status = read_status(store)
        if status is None:
            return "unknown"
        if status.get(Status.STATE) in LIVE_STATES and self._check_live(store.path, store, status) == State.FAILED:
            return "failed"
        return str(status.get(Status.STATE))

    def _request(self, run: str | os.PathLike[str] | RunStore, action: str, **fields: Any) -> dict:
        with self._lock:
            store = self._open(run)
            state = self._state(store)
            if state not in LIVE_STATES:
                raise JobError(f"run {store.run_id} is {state}; only a running or paused run takes requests")
            job = self._jobs.get(store.path)
            if job is not None and job.stopping:  # a newer request would replace the pending abort
                raise JobError(f"run {store.run_id} is stopping; wait for it to end, then resume it if you like")
            return store.request(action, **fields)

    def pause(self, run: str | os.PathLike[str] | RunStore) -> dict:
        return self._request(run, "pause")

    def unpause(self, run: str | os.PathLike[str] | RunStore) -> dict:
        return self._request(run, "resume")

    def save_now(self, run: str | os.PathLike[str] | RunStore) -> dict:
        return self._request(run, "save")

    def set_learning_rate(self, run: str | os.PathLike[str] | RunStore, value: float) -> dict:
        """Ask the engine for a new peak learning rate, applied between steps."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise JobError(f"the learning rate must be a positive number, got {value!r}")
        try:
            return self._request(run, "set_lr", value=float(value))
        except ValueError as err:  # the engine's own bounds on a learning rate
            raise JobError(str(err)) from None

    def stop(self, run: str | os.PathLike[str] | RunStore, *, grace_s: float = 60.0) -> None:
        """Graceful stop: the engine saves a checkpoint and exits ("aborted"). After `grace_s`,
        SIGTERM (also a save), then SIGKILL. Returns at once; a queued run is just marked aborted."""
        self._end(run, grace_s=grace_s, term_wait_s=self.stop_term_wait_s, request_abort=True)

    def kill(self, run: str | os.PathLike[str] | RunStore) -> None:
        """Forced stop now: SIGTERM (the engine still tries to save), SIGKILL a few seconds later."""
        self._end(run, grace_s=0.0, term_wait_s=self.kill_term_wait_s, request_abort=False)

    def _end(self, run, *, grace_s: float, term_wait_s: float, request_abort: bool) -> None:
        with self._lock:
            store = self._open(run)
            state = self._state(store)
            if state == State.QUEUED:
                message = "stopped before it started; Resume puts it back in the queue"
                store.update_status(state="aborted", error=message)
                store.log(message)
                return
            if state not in LIVE_STATES:
                raise JobError(f"run {store.run_id} is {state}; only a queued, running or paused run can be stopped")
            job = self._jobs.get(store.path)
            if job is None:
                raise JobError(
                    f"run {store.run_id}'s process cannot be reached from here (another machine, or no "
                    "pid recorded); stop it where it runs"
                )
            if request_abort:
                store.request("abort")
            job.stopping = True
        threading.Thread(
            target=self._escalate, args=(store.path, job, grace_s, term_wait_s), daemon=True, name="gemma-jax-stop"
        ).start()

    def _escalate(self, path: Path, job: Job, grace_s: float, term_wait_s: float) -> None:
        """Wait for the job to end; SIGTERM after `grace_s`, SIGKILL `term_wait_s` later. Gives up
        (leaving the job alone) when the runner is closed: closing never kills jobs."""
        for sig, wait_s in ((None, grace_s), (signal.SIGTERM, term_wait_s), (signal.SIGKILL, 10.0)):
            if sig is not None:
                log.warning("run %s did not stop in time: sending %s", path, sig.name)
                signal_job(job.pid, sig)
            deadline = time.monotonic() + wait_s
            while True:
                with self._lock:
                    if job.ended():
                        self._reap()
                        return
                if time.monotonic() >= deadline or self._closed.wait(0.2):
                    break
            if self._closed.is_set():
                return
        with self._lock:
            self._reap()

    def delete(self, run: str | os.PathLike[str] | RunStore) -> None:
        """Remove a run directory that is not queued, running or paused."""
        with self._lock:
            store = self._open(run)
            state = self._state(store)
            if state in ("queued", "running", "paused"):
                raise JobError(f"run {store.run_id} is {state}; stop it first, then delete it")
            if store.path in self._jobs:
                raise JobError(f"run {store.run_id} is {state} but its process is still exiting; try again shortly")
            # Gone from every listing at once; the (possibly many GB of) files go in the background, so
            # the dashboard and the scheduler never wait on a big delete.
            trash = store.path.with_name(f".deleting-{store.run_id}-{os.getpid()}-{time.monotonic_ns()}")
            store.path.rename(trash)
        threading.Thread(target=shutil.rmtree, args=(trash, True), daemon=True, name="gemma-jax-delete").start()

    def clone_config(self, run: str | os.PathLike[str] | RunStore) -> JobConfig:
        """The run's config as submitted, to start a new run from (ConfigError if config.yaml is damaged)."""
        return self._open(run).config()

    # -- the background thread ----------------------------------------------------------------
    def start(self) -> JobRunner:
        """Re-attach, then poll every poll_s seconds in a daemon thread; calling it again does nothing."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._closed.clear()
            found = self.reattach()
            log.info("job runner: %s", {key: len(value) for key, value in found.items()})
            self._thread = threading.Thread(target=self._loop, daemon=True, name="gemma-jax-job-runner")
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._closed.wait(self.poll_s):
            try:
                self.poll()
            except Exception:  # one bad tick (e.g. a full disk) must not end the scheduler
                log.exception("job runner poll failed")

    def close(self) -> None:
        """Stop polling (and any pending stop escalation); running jobs carry on untouched."""
        self._closed.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 2 * self.poll_s))
