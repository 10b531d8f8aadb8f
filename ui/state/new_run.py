"""The New-run wizard's state: one JobConfig edited by four steps (Data, Model, Method, Review).

Every widget reads and writes a field of `config` by its dotted path, so presets, a
cloned run's config and manual edits all meet in one place. No Panel import.
"""

from __future__ import annotations

from typing import Any

import param

from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.presets import apply_preset
from ui.confinement import PATH_FIELDS, ConfinementError
from ui.state.config_fields import get_field, set_field
from ui.state.wizard_data import DataStep
from ui.state.wizard_method import MethodStep
from ui.state.wizard_model import ModelStep
from ui.state.wizard_review import ReviewStep

STEPS = ("Data", "Model", "Method", "Review")


class NewRunState(param.Parameterized):
    """The wizard: `config` is the job being built, `step` the page shown."""

    config = param.ClassSelector(class_=JobConfig, doc="the job being built")
    step = param.Selector(default=STEPS[0], objects=list(STEPS))

    def __init__(self, session, hardware=None, **params):
        """`hardware` (a gemma_jax.monitor.Hardware) sizes the memory check; default: this machine's."""
        start = apply_preset(JobConfig(), "quickstart")  # the built-in 270M on the example data: ready to go
        super().__init__(config=set_field(start, "runs_dir", str(session.workspace.runs_dir)), **params)
        self.session = session
        self.data = DataStep(self)
        self.model = ModelStep(self, hardware)
        self.method = MethodStep(self)
        self.review = ReviewStep(self)
        self.take_clone()

    def take_clone(self) -> bool:
        """Start over from `session.clone_config` ("clone as new" on the Runs page) when one is waiting.

        The clone is used once (cleared), its runs_dir becomes this workspace's, and the wizard
        goes back to the Data step so the user sees its data's report first.
        """
        cloned = getattr(self.session, "clone_config", None)
        if not isinstance(cloned, JobConfig):
            return False
        self.session.clone_config = None
        cloned = set_field(cloned, "checkpoint.directory", None)  # never the original's (keep-N would prune it)
        try:  # a run made before the checks (or by hand) may name what this user may not read
            cloned = self.session.confinement.confine(cloned)
        except ConfinementError as err:
            self.session.notify(f"cannot clone this run here: {err}", "error")
            return False
        self.config = set_field(cloned, "runs_dir", str(self.session.workspace.runs_dir))
        self.data.forget_source()
        self.review.started = None
        self.step = STEPS[0]
        return True

    def get(self, path: str) -> Any:
        return get_field(self.config, path)

    def set(self, path: str, value: Any) -> None:
        """Change one field; data fields invalidate the data report (it no longer describes the config).

        A path-like field is confined first (ConfinementError, a ValueError, when refused), so the
        config never names what a logged-in user may not read, and no check or estimate reads it.
        """
        if path in PATH_FIELDS and value:
            value = self.session.confinement.field(path, value, self.config)
        if get_field(self.config, path) == (tuple(value) if isinstance(value, list) else value):
            return
        self.config = set_field(self.config, path, value)
        if path.startswith("data."):
            self.data.result = None

    def apply_preset(self, name: str) -> None:
        """Apply a task or hardware preset over the current config (ConfigError for an unknown name)."""
        before = self.config.data
        self.config = set_field(apply_preset(self.config, name), "runs_dir", str(self.session.workspace.runs_dir))
        if self.config.data != before:
            self.data.result = None

    def go(self, step: str) -> None:
        self.step = step

    def next(self) -> None:
        index = STEPS.index(self.step)
        self.step = STEPS[min(index + 1, len(STEPS) - 1)]

    def back(self) -> None:
        index = STEPS.index(self.step)
        self.step = STEPS[max(index - 1, 0)]
