"""Restore a run's training state from a checkpoint, including checkpoints written before the
optimizer state carried its training controls (see optimizer.ControlledState).

A checkpoint that cannot be read (a crash or a full disk during a save, a deleted or truncated
file, a garbled metadata file) is reported as `UnreadableCheckpoint`, naming the step folder and
the earlier checkpoints there are; `restore_latest_good` lets a resumed run fall back to them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from gemma_jax.checkpoint.checkpoint_store import CheckpointStore
from gemma_jax.command_line import cap_message, stderr_to_log
from gemma_jax.train.optimizer import ControlledState
from gemma_jax.train.setup import TrainState


class UnreadableCheckpoint(ValueError):
    """A checkpoint step that cannot be restored; the message names it and what to use instead."""

    def __init__(self, step: int, directory: str, earlier: list[int], cause: BaseException) -> None:
        self.step, self.directory, self.earlier = step, directory, earlier
        hint = (
            f"use --step {earlier[0]} (the previous checkpoint)"
            if earlier
            else "there is no earlier checkpoint; start the run again"
        )
        super().__init__(
            f"checkpoint step {step} in {directory} cannot be read "
            f"({cap_message(f'{type(cause).__name__}: {cause}', 300)}); it is damaged or incomplete (a crash or a "
            f"full disk during its save, a deleted or truncated file) or was written for another config; {hint}"
        )


def restore_state(checkpoints: CheckpointStore, step: int, like: TrainState):
    """`checkpoints.restore(step, like)`: (trainable, opt_state, frozen or None, data position, meta).

    Raises UnreadableCheckpoint when the step cannot be restored.
    """
    try:
        with stderr_to_log("checkpoint-restore", linger_s=1.0):
            return _restore(checkpoints, step, like)
    except Exception as error:
        if _transient(error):  # not the checkpoint's fault: never call it damaged (nor move it aside)
            raise
        # Orbax leaves the sibling reads of a failed restore as tasks nobody awaits; asyncio would print each
        # one's traceback when it is collected (often at exit). The error is in the message below instead.
        logging.getLogger("asyncio").addFilter(_unretrieved_tasks)
        earlier = sorted((s for s in checkpoints.all_steps() if s < step), reverse=True)
        raise UnreadableCheckpoint(step, str(checkpoints.manager.directory), earlier, error) from error


_TRANSIENT_CODES = ("RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "PERMISSION_DENIED", "ABORTED")


def _transient(error: BaseException) -> bool:
    """Out of memory, a storage hiccup or missing permission: errors of the moment, not of the checkpoint."""
    if isinstance(error, (MemoryError, PermissionError, ConnectionError, TimeoutError)):
        return True
    return any(code in str(error)[:500] for code in _TRANSIENT_CODES)


def _unretrieved_tasks(record: logging.LogRecord) -> bool:
    return "exception was never retrieved" not in str(record.msg)  # Task or Future


def restore_latest_good(checkpoints: CheckpointStore, like: TrainState, log) -> tuple[int, tuple] | None:
    """Restore the newest checkpoint that can be read: (step, restored), or None when there is none.

    Newer steps that cannot be read are moved aside (renamed `damaged-<step>-<time>`, never deleted)
    so later saves can use their numbers, and `log` says so. When no step can be read, the newest
    one's error is raised and nothing is moved.
    """
    steps = sorted(checkpoints.all_steps(), reverse=True)
    failures: list[UnreadableCheckpoint] = []
    for step in steps:
        try:
            restored = restore_state(checkpoints, step, like)
        except UnreadableCheckpoint as error:
            failures.append(error)
            continue
        for failure in failures:
            folder = Path(failure.directory) / str(failure.step)
            if folder.exists():  # a local folder (a gs:// one is left; its number is skipped by later saves)
                folder.rename(folder.with_name(f"damaged-{failure.step}-{time.strftime('%Y%m%d-%H%M%S')}"))
            log(f"{failure}; resuming from step {step} instead (the damaged folder was kept)", level="WARNING")
        return step, restored
    if failures:
        raise failures[0]
    return None


def _restore(checkpoints: CheckpointStore, step: int, like: TrainState):
    """The restore itself, with older checkpoints (a bare optax state) wrapped with the step count they were
    saved at and the configured learning rate (scale 1)."""
    try:
        return checkpoints.restore(step, like)
    except ValueError as error:  # Orbax: the saved tree does not have the structure asked for
        try:
            legacy = TrainState(like.trainable, like.frozen, like.opt_state.inner)
            trainable, inner, frozen, position, meta = checkpoints.restore(step, legacy)
        except Exception:  # noqa: BLE001  (not an older checkpoint either: report the first problem)
            raise error from None
    count = like.opt_state.step
    opt_state = ControlledState(
        jax.device_put(jnp.asarray(step, count.dtype), count.sharding), like.opt_state.lr_scale, inner
    )
    return trainable, opt_state, frozen, position, meta
