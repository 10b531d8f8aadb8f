"""Starting, signalling and post-mortems of training processes, independent of any runner object.

A job runs as `python -m gemma_jax.train RUN_DIR` in its own session (process group), so
it outlives the dashboard and a stop can reach its helper processes too.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from gemma_jax.runs.run_store import now_iso
from gemma_jax.runs.schema import LOG_FILE, PROCESS_LOG_FILE

PROCESS_LOG = PROCESS_LOG_FILE
TAIL_LINES = 20


def spawn_job(python: str, run_dir: Path, env: Mapping[str, str]) -> subprocess.Popen:
    """Start the training process for `run_dir`; its stdout/stderr are appended to process.log."""
    log_path = run_dir / PROCESS_LOG
    with open(log_path, "ab") as log:
        log.write(f"--- {now_iso()} started by the job runner ---\n".encode())
        log.flush()
        return subprocess.Popen(
            [python, "-m", "gemma_jax.train", str(run_dir), "--no-progress"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,  # its own process group: survives the server, stoppable as a whole
            close_fds=True,
        )


def signal_job(pid: int, sig: int) -> bool:
    """Send `sig` to the job's process group when it leads one (jobs the runner spawned), else to
    the process alone (a CLI run shares its shell's group, which must not be hit); False if gone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def reap(pid: int) -> int | None:
    """Collect the exit of `pid` if it is a finished child of this process (a runner re-created in
    the same process inherits the old one's children); None when not ours or still running."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def describe_exit(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    return f" (exit code {code})"


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def log_tail(run_dir: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of the run's log.txt and process.log (Python's own output: import errors,
    tracebacks from before the engine's log exists), labelled, for a failed run's error."""
    parts = []
    for name in (LOG_FILE, PROCESS_LOG):
        tail = _tail(run_dir / name, lines // 2)
        if tail:
            parts.append(f"last lines of {name}:\n" + "\n".join(tail))
    return "\n".join(parts)
