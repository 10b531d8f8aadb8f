"""How long a run is: rows per epoch from the checked data, steps per epoch, total steps, epochs.

Max steps, when set, wins over Epochs (as in the trainer), so the epochs shown are the ones the run
makes. Before the data is checked, FALLBACK_EXAMPLES stand in for it. No Panel import.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gemma_jax.config.job_config import JobConfig

if TYPE_CHECKING:
    from ui.state.data_check import DataCheck

FALLBACK_EXAMPLES = 100  # steps are estimated from this many examples until the data is checked


def training_examples(check: DataCheck | None) -> tuple[int, bool]:
    """(examples in the training split, known from the checked data?); FALLBACK_EXAMPLES before a check."""
    if check is not None and check.summary:
        return check.summary["split"]["splits"]["train"]["examples"], True
    if check is not None and check.report.usable:
        return check.report.usable, True
    return FALLBACK_EXAMPLES, False


def rows_per_epoch(cfg: JobConfig, check: DataCheck | None) -> tuple[int, bool]:
    """(rows of sequence_length tokens one pass over the training split fills, from the checked data?).

    With packing, several short examples share a row (estimated from the checked lengths)."""
    examples, known = training_examples(check)
    rows = examples
    lengths = check.lengths if check is not None else None
    if cfg.data.packing and lengths and lengths["count"]:
        tokens = min(lengths["mean"], cfg.data.sequence_length)
        efficiency = max(lengths["packing_efficiency"], 1e-3)
        rows = math.ceil(examples * tokens / (cfg.data.sequence_length * efficiency))
    return max(1, rows), known


def steps_per_epoch(cfg: JobConfig, check: DataCheck | None) -> int:
    """Optimizer steps in one pass: the rows over Batch size (gradient accumulation splits a step's rows
    into pieces; it does not add rows, so it does not change this)."""
    return max(1, math.ceil(rows_per_epoch(cfg, check)[0] / max(1, cfg.train.batch_size)))


def estimated_total_steps(cfg: JobConfig, check: DataCheck | None) -> tuple[int, bool]:
    """(optimizer steps of the run, exact?): max_steps when set, else epochs over the packed rows (estimated).

    As the trainer decides: Max steps, when set, wins over Epochs."""
    if cfg.train.max_steps:
        return int(cfg.train.max_steps), True
    return max(1, round(cfg.train.epochs * steps_per_epoch(cfg, check))), False


def run_epochs(cfg: JobConfig, check: DataCheck | None) -> float:
    """Passes over the training data the run makes: Max steps over the steps per epoch when set, else Epochs."""
    if cfg.train.max_steps:
        return cfg.train.max_steps / steps_per_epoch(cfg, check)
    return float(cfg.train.epochs)
