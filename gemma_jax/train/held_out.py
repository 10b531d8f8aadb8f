"""The loss on held-out batches, as training computes it: the mean over every loss token, not per batch."""

from __future__ import annotations

from collections.abc import Iterable


def mean_eval_loss(setup, state, batches: Iterable[dict], max_batches: int) -> float:
    """Mean loss per loss token over up to `max_batches` host batches, through the jitted eval step."""
    total, count = 0.0, 0.0
    for index, host_batch in enumerate(batches):
        if index >= max_batches:
            break
        loss_sum, tokens = setup.steps.evaluate(state.trainable, state.frozen, setup.device_batch(host_batch))
        total, count = total + float(loss_sum), count + float(tokens)
    return total / max(count, 1.0)
