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
