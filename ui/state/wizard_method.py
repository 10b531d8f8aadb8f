"""Step 3 of the New-run wizard: training method and hyperparameters, the learning-rate curve, presets."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import param

from gemma_jax.config.fields import spec_for, wizard_fields
from gemma_jax.config.job_config import JobConfig
from ui.state.wizard_field_checks import FieldNote, field_notes
from ui.state.wizard_length import estimated_total_steps, run_epochs

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState

# What the page shows at once, and what waits behind "Advanced": the fields say where they go
# (`wizard=` in gemma_jax/config); the page orders them by section, the method first.
_SECTIONS = ("method", "optimizer", "schedule", "train", "model", "eval", "checkpoint")


def _by_section(paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(paths, key=lambda path: _SECTIONS.index(path.split(".")[0])))


BASIC_FIELDS = _by_section(wizard_fields("method"))
ADVANCED_FIELDS = _by_section(wizard_fields("method.advanced"))
CURVE_POINTS = 200


def visible_fields(cfg: JobConfig, fields: tuple[str, ...]) -> list[str]:
    """The fields that mean something for the chosen method (LoRA settings hidden for full fine-tuning)."""
    kind = cfg.method.kind
    shown = []
    for path in fields:
        spec = spec_for(path)
        if spec is not None and (spec.only_for is None or kind in spec.only_for):
            shown.append(path)
    return shown


def learning_rate_curve(cfg: JobConfig, total_steps: int, points: int = CURVE_POINTS) -> tuple[list[int], list[float]]:
    """(steps, learning rates) of the run's schedule, from the engine's own make_schedule."""
    return _curve(cfg.schedule, cfg.optimizer.learning_rate, total_steps, points)


@functools.lru_cache(maxsize=32)
def _curve(schedule_cfg, peak_lr: float, total_steps: int, points: int) -> tuple[list[int], list[float]]:
    """Imports JAX on the CPU backend only (the dashboard runs with JAX_PLATFORMS=cpu). The steps array
    always has `points` entries, so JAX compiles the schedule's ops once, not once per run length."""
    from gemma_jax.train.optimizer import make_schedule

    schedule = make_schedule(schedule_cfg, peak_lr, total_steps)
    sampled = np.rint(np.linspace(0, total_steps, num=points)).astype(np.int32)
    values = np.asarray(schedule(sampled), dtype=np.float64)
    steps, first = np.unique(sampled, return_index=True)
    return steps.tolist(), values[first].tolist()


class MethodStep(param.Parameterized):
    """The Method step: hyperparameters live in the owner's config; this adds the curve and presets."""

    def __init__(self, owner: NewRunState, **params):
        super().__init__(**params)
        self.owner = owner
        self._notes: tuple[object, object, dict] | None = None  # (config, data check, notes) last said

    def basic_fields(self) -> list[str]:
        return visible_fields(self.owner.config, BASIC_FIELDS)

    def advanced_fields(self) -> list[str]:
        return visible_fields(self.owner.config, ADVANCED_FIELDS)

    def total_steps(self) -> tuple[int, bool]:
        return estimated_total_steps(self.owner.config, self.owner.data.result)

    def curve(self) -> tuple[list[int], list[float]]:
        return learning_rate_curve(self.owner.config, self.total_steps()[0])

    def epochs(self) -> float:
        """The passes over the data the run makes (Max steps wins over Epochs when both are set)."""
        return run_epochs(self.owner.config, self.owner.data.result)

    def notes(self) -> dict[str, list[FieldNote]]:
        """What to say beside each field: errors (they block Start), warnings and the run's length.

        Worked out once per config and data check: the Data and Method pages and Review all ask after
        each change."""
        config, check = self.owner.config, self.owner.data.result
        if self._notes is None or self._notes[0] is not config or self._notes[1] is not check:
            self._notes = (config, check, field_notes(self.owner))
        return self._notes[2]

    def use_suggested_batch(self) -> int | None:
        """Set Batch size to the Model step's suggestion for this machine; None when there is none."""
        advice = self.owner.model.batch_advice()
        if advice is None:
            return None
        self.owner.set("train.batch_size", advice.size)
        return advice.size
