"""One process of a multi-host run, watched: a clear message when the run stops because a peer did.

JAX ends every process of a multi-process job the moment one stops sending heartbeats (killed,
crashed, preempted): the survivors abort inside the runtime with a C++ check failure, so no Python
handler runs, status.json would stay "running" and the user would read a stack dump. `gemma-jax
train` started as one of several processes therefore runs the training in a child process: this
parent passes signals on, hides the runtime's dump, says in plain words what happened, and (on
process 0) marks the run failed with that message. The child dies with its parent (PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading

SUPERVISED = "GEMMA_JAX_SUPERVISED"  # set in the child: it trains instead of supervising
_RUNTIME_DUMP = re.compile(
    r"^(F\d{4} |\*\*\* Check failure|    @ |RPC: /xla\.|absl::Status|The tasks have crashed|Barrier result: |Additional GRPC error|:UNKNOWN:Error received)"
)
_PEER_LOST = "JAX distributed service detected fatal errors"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the launcher's grace period still ends it
        pass


def _pass_stderr(stream, seen: dict) -> None:
    """Copy the child's stderr to ours, minus the runtime's fatal dump (remembered in `seen`)."""
    skipping = False
    for line in stream:
        if _PEER_LOST in line:
            seen["peer_lost"] = True
        if _RUNTIME_DUMP.match(line) or (skipping and line.strip().isdigit()):
            skipping = True
            continue
        skipping = False
        sys.stderr.write(line)
        sys.stderr.flush()


def peer_lost_message(process: str, processes: str) -> str:
    return (
        f"process {process} of {processes} stopped because another process of this run stopped answering "
        "(it was killed, crashed or its machine was preempted; its own output says which). Nothing after the "
        "last checkpoint was kept. Continue with `gemma-jax train --resume RUN_DIR` on every process, or "
        "`gemma-jax launch --processes N train --resume RUN_DIR` (any number of processes)"
    )


def supervise(argv: list[str], run_dir: str | None) -> int:
    """Run `gemma-jax <argv>` as a watched child; its exit status, with a plain message when a peer was lost."""
    env = {**os.environ, SUPERVISED: "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "gemma_jax.cli", *argv],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=_die_with_parent,  # noqa: PLW1509  (no other thread exists yet)
    )
    seen: dict = {}
    reader = threading.Thread(target=_pass_stderr, args=(child.stderr, seen), daemon=True)
    reader.start()

    def forward(signum, frame):
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    reader.join(timeout=5)
    if code >= 0 and not seen.get("peer_lost"):
        return code
    process, processes = os.environ.get("JAX_PROCESS_ID", "?"), os.environ.get("JAX_NUM_PROCESSES", "?")
    if seen.get("peer_lost"):
        message = peer_lost_message(process, processes)
    else:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        message = f"process {process} of {processes}: the training process was ended by {name}"
        if name == "SIGKILL":
            message += " (by a user, a scheduler or the out-of-memory killer)"
    print(f"gemma-jax train: {message}", file=sys.stderr)
    if run_dir and process == "0":
        _mark_failed(run_dir, message)
    return 1


def _mark_failed(run_dir: str, message: str) -> None:
    """Record the end in status.json unless the trainer already recorded one."""
    from gemma_jax.runs.run_store import RunDirError, RunStore

    try:
        store = RunStore.open(run_dir)
        if store.read_status().get("state") in ("running", "queued", "paused"):
            store.log(message, level="ERROR")
            store.update_status(state="failed", error=message)
    except (RunDirError, OSError):
        pass
