"""A stopped run reads "stopped" on the page, and its message points at the page's Resume button."""

from gemma_jax.runs.schema import State
from ui.state.run_words import end_message_words, state_words


def test_a_stopped_run_reads_stopped_and_resumes_from_the_page():
    assert state_words(State.ABORTED) == "stopped"
    assert state_words(State.FAILED) == "failed" and state_words(State.RUNNING) == "running"
    message = (
        "stopped at step 174 (stop requested); checkpoint saved. "
        "Continue with: gemma-jax train --resume /srv/users/ana/runs/my run"
    )
    words = end_message_words(message)
    assert words == "stopped at step 174 (stop requested); checkpoint saved. Continue it with Resume run on this page."
    assert "/srv" not in words
    assert (
        end_message_words("training diverged: lower the learning rate") == "training diverged: lower the learning rate"
    )
