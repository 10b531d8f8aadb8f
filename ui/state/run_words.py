"""A run's state and end message in the dashboard's words (no Panel import).

The engine writes status.json for every client: "aborted" is the state of a run someone stopped
(it kept a checkpoint and can resume), and its message tells a terminal user the command that
resumes it. On the page the state reads "stopped" and the message points at the Resume button.
"""

from __future__ import annotations

import re

from gemma_jax.runs.schema import State

STATE_WORDS = {State.ABORTED: "stopped"}
_RESUME_COMMAND = re.compile(r"Continue with: gemma-jax train --resume \S.*$")


def state_words(state: str) -> str:
    """The word the page shows for `state` ("aborted" reads "stopped"; the rest as written)."""
    return STATE_WORDS.get(state, state)


def end_message_words(message: str, button: str = "Resume run") -> str:
    """`message` with the terminal's resume command replaced by the page's `button` that resumes a run."""
    return _RESUME_COMMAND.sub(f"Continue it with {button} on this page.", message)


# What the page says while a request waits for the run to take it (between steps; a step, or the model
# load, can take a while), so a click is seen to have landed.
PENDING_WORDS = {
    "pause": "pausing after the current step…",
    "resume": "resuming…",
    "save": "saving a checkpoint after the current step…",
    "abort": "stopping after the current step…",
    "set_lr": "new learning rate from the next step…",
}


def pending_words(actions: list[str]) -> str:
    """The requests not taken yet, in the page's words, oldest first ("" for none)."""
    words = [PENDING_WORDS.get(action, f"{action} requested…") for action in actions]
    return "; ".join(dict.fromkeys(words))
