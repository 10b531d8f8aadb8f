"""Step 4 of the New-run wizard: the config as YAML and as a command, every problem, and Start."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import param
import yaml

from gemma_jax.config import ConfigError, JobConfig, config_to_yaml, validate
from gemma_jax.config.convert import config_to_dict
from gemma_jax.models.registry import shape_for_source
from ui.confinement import ConfinementError
from ui.state.hardware import memory_budget
from ui.state.wizard_data import source_problem

if TYPE_CHECKING:
    from ui.state.new_run import NewRunState


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _override_text(value: Any) -> str:
    """A value as apply_overrides reads it back (YAML scalars; lists in flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return yaml.safe_dump(list(value), default_flow_style=True).strip()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def override_items(cfg: JobConfig) -> list[str]:
    """`key=value` for every field that differs from the defaults: what `--set` needs to rebuild `cfg`."""
    default = _flatten(config_to_dict(JobConfig()))
    current = _flatten(config_to_dict(cfg))
    return [f"{key}={_override_text(value)}" for key, value in current.items() if default.get(key) != value]


def train_command(cfg: JobConfig) -> str:
    """The shell command that starts the same job from the CLI."""
    parts = ["gemma-jax", "train"]
    for item in override_items(cfg):
        parts += ["--set", item]
    return " ".join(shlex.quote(part) for part in parts)


class ReviewStep(param.Parameterized):
    """The Review step: what will run, what is wrong with it, and Start."""

    started = param.String(default=None, allow_None=True, doc="run_id of the run this wizard started")

    def __init__(self, owner: NewRunState, **params):
        super().__init__(**params)
        self.owner = owner
        self._started_config: JobConfig | None = None

    def yaml_text(self) -> str:
        """The config as YAML; a logged-in user sees their paths relative to their workspace."""
        return self.owner.session.confinement.redact(config_to_yaml(self.owner.config))

    def file_name(self) -> str:
        return f"{self.owner.config.name or 'run'}.yaml"

    def command(self) -> str:
        return self.owner.session.confinement.redact(train_command(self.owner.config))

    def problems(self) -> list[str]:
        """Every reason Start is refused: config rules (with memory on this hardware) and data errors.

        Paths a logged-in user may not use come alone: the other checks would read them (the model's
        config.json for its shape and memory).
        """
        cfg = self.owner.config
        refused = self.owner.session.confinement.config_problems(cfg)
        if refused:
            return refused
        available, platform, devices = memory_budget(self.owner.model.hardware)
        shape = shape_for_source(cfg.model.source) if isinstance(cfg.model.source, str) else None
        problems = validate(
            cfg,
            device_count=devices if platform != "cpu" else None,
            model_context_length=shape.context_length if shape is not None else None,
            available_memory=available,
            memory_platform=platform,
        )
        return problems + [f"data: {p}" for p in self.owner.data.problems()]

    def start(self) -> str | None:
        """Submit the job to the session's runner and open it; None (with a notification) when refused."""
        session = self.owner.session
        problems = self.problems()
        if problems:
            session.notify(f"fix {len(problems)} problem(s) listed on the Review step before starting", "error")
            return None
        if session.runner is None:
            session.notify("this dashboard has no job runner; start the run with the command shown", "error")
            return None
        cfg = dataclasses.replace(self.owner.config, runs_dir=str(session.workspace.runs_dir))
        try:  # the last line of defence: whatever the steps let through, the runner gets no foreign path
            cfg = session.confinement.confine(cfg)
        except ConfinementError as err:
            session.notify(f"could not start the run: {err}", "error")
            return None
        if self.started and self._started_config == cfg:  # a second click on Start: one run, not two
            session.notify(f"run {self.started} was already started with this config", "warning")
            return None
        for path in (cfg.data.train_path, cfg.data.validation_path, cfg.data.test_path):
            problem = source_problem(path, session.confinement) if path else ""
            if problem:
                session.notify(f"could not start the run: {problem}", "error")
                return None
        try:
            store = session.runner.submit(cfg)
        except (ConfigError, ValueError, OSError, RuntimeError) as err:  # JobError is a RuntimeError
            session.notify(f"could not start the run: {err}", "error")
            return None
        run_id = Path(store.path).name
        self.started, self._started_config = run_id, cfg
        session.audit("start", run=run_id, model=cfg.model.source, method=cfg.method.kind)
        session.notify(f"run {run_id} submitted", "success")
        session.open_run(run_id)
        return run_id
