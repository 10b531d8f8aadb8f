"""A command-line job of the dashboard (evaluate, export) run as a subprocess, its output collected.

Threads read its stdout (progress, result) and stderr (errors, library logs) apart; the page's
periodic callback reads them on the server thread, so no state is touched from another thread.
`CheckpointJobState` is what the Evaluate and Export pages share: start the job on the picked
checkpoint, follow its `GJ-PROGRESS` lines (gemma_jax.jobs.progress), and at its end list the
results and show the new one, or the error.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import param

from gemma_jax.jobs.progress import latest_progress
from ui.state.checkpoint_picker import CheckpointPicker

_KEPT_LINES = 200


def job_environment(session) -> dict[str, str]:
    """The environment for a side process: the one the server was started with (the server itself is
    CPU-only; jobs are not), on the CPU while a job holds this host's TPU (JobRunner.side_process_env)."""
    runner = session.runner
    return runner.side_process_env() if runner is not None else dict(os.environ)


class BackgroundCommand:
    """`python -m <module> <args>` in its own process group; `done`, `returncode` and its output while and after.

    stdout (`output`) is what the command prints on purpose: its progress and result. stderr
    (`errors`) is its error line and everything the libraries log there (XLA's `I0000 ... cuda
    drivers`, absl, warnings): shown when the command fails, never as progress.
    """

    def __init__(self, module: str, args: Sequence[str], *, env: Mapping[str, str] | None = None, python=None):
        self.command = [python or sys.executable, "-m", module, *map(str, args)]
        self.output: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self.errors: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self.returncode: int | None = None
        self._process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(os.environ if env is None else env),
            start_new_session=True,
        )
        self._errors_thread = threading.Thread(
            target=self._collect, args=(self._process.stderr, self.errors), name=f"gj-{module}-err", daemon=True
        )
        self._errors_thread.start()
        self._thread = threading.Thread(target=self._read, name=f"gj-{module}", daemon=True)
        self._thread.start()

    @staticmethod
    def _collect(stream, lines: collections.deque) -> None:
        for line in stream:
            if line.strip():
                lines.append(line.rstrip())

    def _read(self) -> None:
        self._collect(self._process.stdout, self.output)
        self._errors_thread.join()
        self.returncode = self._process.wait()

    @property
    def lines(self) -> list[str]:
        """Everything it printed, stdout then stderr."""
        return [*self.output, *self.errors]

    @property
    def done(self) -> bool:
        return self.returncode is not None

    def wait(self, timeout: float | None = None) -> int | None:
        self._thread.join(timeout)
        return self.returncode

    def last_line(self) -> str:
        """The last line it printed on stdout (its own progress, not a library's log)."""
        return self.output[-1] if self.output else ""

    def error_message(self) -> str:
        """What went wrong, for the user: the command's own error line, else the end of its error output."""
        errors = [line for line in self.errors if line.startswith(("evaluate:", "export:"))]
        if errors:
            return errors[-1].split(":", 1)[1].strip()
        tail = "\n".join(list(self.errors or self.output)[-8:])
        return f"the process exited with code {self.returncode}" + (f":\n{tail}" if tail else "")

    def cancel(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()


class CheckpointJobState(param.Parameterized):
    """`python -m <module>` on the picked checkpoint, followed by `poll()` (server thread).

    A subclass names the module and the job (`noun`, in messages) and says which options it adds,
    how it lists the chosen run's results (`_load`), where a step's result is, and how to show it."""

    running = param.Boolean(default=False)
    progress = param.String(default="", doc="the job's newest progress line (gemma_jax.jobs.progress), in words")
    fraction = param.Number(
        default=None, allow_None=True, bounds=(0.0, 1.0), doc="how far the current stage is; None: no count"
    )
    error = param.String(default="")

    module = ""
    noun = ""

    def __init__(self, session, **params):
        super().__init__(**params)
        self.session = session
        self.picker = CheckpointPicker(session)
        self._job: BackgroundCommand | None = None
        self.picker.param.watch(self._load, "run")
        self._load()

    def _load(self, _event=None) -> None:
        """List the chosen run's results (and show the newest)."""
        raise NotImplementedError

    def _options(self) -> list[str]:
        """The command's options beyond the run and the checkpoint."""
        return []

    def _result_path(self, run_dir: Path, step: int) -> Path:
        raise NotImplementedError

    def show(self, path: str) -> None:
        raise NotImplementedError

    def _start(self) -> bool:
        """Start the job; False (with `error` set) when it cannot start."""
        if self.running:
            return False
        problem = self.picker.problem()
        if problem:
            self.error = problem
            return False
        args = [*self.picker.arguments(), *self._options()]
        try:
            self._job = BackgroundCommand(self.module, args, env=job_environment(self.session))
        except OSError as err:  # no Python, no processes left, ...: say so, never a stuck "Starting…"
            self.error = f"could not start the {self.noun} process: {err}"
            return False
        self.error, self.progress, self.running = "", f"Starting the {self.noun}…", True
        self.session.audit(self.noun, run=self.picker.run, step=self.picker.step)
        return True

    def poll(self) -> None:
        """Follow the running job (server thread)."""
        job = self._job
        if job is None:
            return
        if not job.done:
            latest = latest_progress(list(job.output))  # GJ-PROGRESS lines only: never a library's log
            message = latest.message if latest else f"Starting the {self.noun}…"
            text = message[:1].upper() + message[1:]
            if text != self.progress:
                self.progress = text
            fraction = latest.fraction if latest else None
            if fraction != self.fraction:
                self.fraction = fraction
            return
        self._job, self.running, self.fraction = None, False, None
        if job.returncode == 0:
            self.progress = f"{self.noun.capitalize()} finished."
            self._load()
            step = self.picker.resolved_step
            if step is not None:
                self.show(str(self._result_path(self.picker.run_dir, step)))
            self.session.notify(f"{self.noun.capitalize()} of {self.picker.run} finished", "success")
        else:
            self.progress = ""
            self.error = self.session.confinement.redact(f"The {self.noun} failed: {job.error_message()}")

    def wait(self, timeout: float | None = None) -> None:
        if self._job is not None:
            self._job.wait(timeout)
        self.poll()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
