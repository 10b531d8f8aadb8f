"""A dispatched training step's report: its metrics.jsonl record, built once its results are fetched.

The loop reports each step while the device runs the next one (no host sync between
steps), so what a record needs from the step's dispatch travels in a `PendingStep`.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import jax
import numpy as np

from gemma_jax.runs.schema import Metric
from gemma_jax.train.step_metrics import StepMeter


@dataclass
class PendingStep:
    """A dispatched training step whose metrics are not yet reported."""

    step: int
    metrics: dict  # the step's device arrays
    batch: dict  # its host batch
    epoch: float
    learning_rate: float  # in force when it was dispatched
    dispatched: float  # perf_counter() at dispatch
    finished: float | None = None  # perf_counter() when its results were first seen ready

    def check_ready(self) -> None:
        """Note the time if the results are ready now (without waiting). A backend that runs a step
        inside its dispatch (XLA:CPU, with donated inputs) shows it done right after the call."""
        if self.finished is None and self.metrics[Metric.LOSS].is_ready():
            self.finished = time.perf_counter()

    def wait(self) -> float:
        """The loss, once the step is done; `finished` is set."""
        loss = float(self.metrics[Metric.LOSS])
        if self.finished is None:
            self.finished = time.perf_counter()
        return loss


class RunEnded(Exception):
    """Raised from a hook inside the loop (a pause) when reporting a step ended the run; carries its state."""

    def __init__(self, state: str):
        super().__init__(state)
        self.state = state


def host_schedule(schedule, step: int) -> float:
    """An optax schedule's value at `step`, computed on the host CPU: on an accelerator its stream would
    queue the small computation behind the running step and make the host wait for that step."""
    with jax.default_device(jax.local_devices(backend="cpu")[0]):
        return float(schedule(step))


def batch_fingerprint(host_batch: dict) -> int:
    """CRC of the example ids in a batch: equal fingerprints mean the same examples in the same order."""
    return zlib.crc32(np.ascontiguousarray(host_batch["example_ids"]).tobytes())


def step_record(pending: PendingStep, *, loss: float, meter: StepMeter, step_time: float) -> dict:
    """The metrics.jsonl record of a step whose loss was fetched (finite)."""
    metrics = pending.metrics
    record = {
        Metric.STEP: pending.step,
        Metric.EPOCH: round(pending.epoch, 4),
        Metric.LOSS: loss,
        Metric.LR: pending.learning_rate,
        Metric.GRAD_NORM: float(metrics[Metric.GRAD_NORM]),
        Metric.LOSS_TOKENS: int(metrics[Metric.LOSS_TOKENS]),
        Metric.BATCH_CRC: batch_fingerprint(pending.batch),
        **meter.measure(pending.batch, step_time),
    }
    # Whatever else the step reports (DPO: rewards, margin, accuracy, pairs).
    record.update({k: float(v) for k, v in metrics.items() if k not in record})
    if pending.step == 1:
        record[Metric.INCLUDES_COMPILE] = True
    return record


@dataclass(frozen=True)
class PeriodicWork:
    """Which steps carry work between steps (eval, samples, checkpoint). Such a step is reported at
    once, not while the next one runs: the work needs its weights before the next step replaces them."""

    total_steps: int
    eval_every: int  # 0: never (also when there is no validation split)
    sample_every: int  # 0: never
    checkpoint_every: int

    def eval_due(self, step: int) -> bool:
        return bool(self.eval_every) and (step % self.eval_every == 0 or step == self.total_steps)

    def samples_due(self, step: int, last: bool) -> bool:
        """`last`: the run ends after this step (its last step, or early stopping)."""
        return bool(self.sample_every) and (step % self.sample_every == 0 or last)

    def checkpoint_due(self, step: int, last: bool) -> bool:
        """Periodic checkpoints only: the run's end saves its own."""
        return step % self.checkpoint_every == 0 and not last

    def any_due(self, step: int) -> bool:
        """Whether `step` may carry work (the last step always does: the run's end)."""
        last = step == self.total_steps
        return last or self.eval_due(step) or self.samples_due(step, last) or step % self.checkpoint_every == 0
