"""The processes of one run (a multi-host slice, or `gemma-jax launch` on one machine), kept in step.

Each process runs the whole training loop on its own part of every global batch. Between steps they
agree on what to do next: the strongest request any of them has (a signal reaches one process, a
control.json request only the primary reads) and the primary's learning-rate factor (set_lr). A
pause holds the primary inside its poll; the others wait for it in that same exchange. One process
alone skips all of this.
"""

from __future__ import annotations

import jax
import numpy as np

from gemma_jax.parallel.distributed import initialize_if_multihost, is_primary
from gemma_jax.parallel.supervisor import peer_lost_message
from gemma_jax.runs.follower_store import FollowerStore
from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import Action
from gemma_jax.train.control import STOP

ACTIONS = (None, Action.SAVE, STOP, Action.ABORT)  # weakest to strongest: the strongest request anywhere wins


def join_processes(store: RunStore) -> RunStore:
    """Start jax.distributed when this process is one of several; the store a process writes through
    (processes other than 0 write nothing to the run directory)."""
    initialize_if_multihost()
    if jax.process_count() > 1 and not is_primary() and not isinstance(store, FollowerStore):
        return FollowerStore(store, jax.process_index())
    return store


def agreed_request(action: str | None, lr_scale: float) -> tuple[str | None, float]:
    """(the strongest of every process's `action`, the primary's learning-rate factor), on every process."""
    if jax.process_count() == 1:
        return action, lr_scale
    from jax.experimental import multihost_utils

    mine = np.array([ACTIONS.index(action), lr_scale], np.float32)
    rows = np.asarray(multihost_utils.process_allgather(mine)).reshape(jax.process_count(), 2)
    return ACTIONS[int(rows[:, 0].max())], float(rows[0, 1])


_PEER_FAILURES = ("Gloo", "Connection closed by peer", "heartbeat", "CoordinationService", "Barrier failed")


def peer_lost(error: BaseException) -> str | None:
    """The plain message for an error that means another process of the run is gone, else None."""
    if jax.process_count() == 1 or not any(text in str(error) for text in _PEER_FAILURES):
        return None
    return peer_lost_message(str(jax.process_index()), str(jax.process_count()))
