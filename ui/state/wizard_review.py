"""Step 4 of the New-run wizard: the config as YAML and as a command, every problem, and Start."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import param
import yaml

from gemma_jax.config import ConfigError, JobConfig, config_to_yaml
from gemma_jax.config.convert import config_to_dict
from gemma_jax.models.registry import shape_for_source
from gemma_jax.preflight import preflight_problems
from ui.confinement import ConfinementError
from ui.state.hardware import memory_budget
from ui.state.wizard_data import source_problem
from ui.state.wizard_field_checks import field_errors
from ui.state.wizard_words import field_label, in_page_words

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


_PLAIN = re.compile(r"[\w@%+=:,./-]+", re.ASCII)  # what a shell takes as one word without quotes
_SPECIAL_IN_DOUBLE_QUOTES = re.compile(r'["\\$`!\n\r]')


def shell_word(part: str) -> str:
    """`part` as one shell word, readably: bare when it can be, else in double quotes, and in single
    quotes (shlex.quote) only when it holds what double quotes would expand ($, `, \\, ", !)."""
    if part and _PLAIN.fullmatch(part):
        return part
    if not _SPECIAL_IN_DOUBLE_QUOTES.search(part):
        return f'"{part}"'
    return shlex.quote(part)


def train_command(cfg: JobConfig) -> str:
    """The shell command that starts the same job from the CLI, one setting per line."""
    lines = ["gemma-jax train"] + [f"  --set {shell_word(item)}" for item in override_items(cfg)]
    return " \\\n".join(lines)


def file_command(file_name: str) -> str:
    """The command that starts the job from the downloaded config file."""
    return f"gemma-jax train {shell_word(file_name)}"


def _about(problem: str, paths: set[str]) -> bool:
    """The engine's message is about one of `paths` (it starts with the key, as validate() writes them)."""
    return any(problem.startswith((f"{path} ", f"{path}=", f"{path}:")) for path in paths)


def _named(label: str, text: str) -> str:
    """A field's note for the list on Review: "Label: note", unless the note already starts with the label."""
    return text if text.startswith(f"{label} ") else f"{label}: {text}"


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

    def file_command(self) -> str:
        return file_command(self.file_name())

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
        engine = preflight_problems(
            cfg,
            device_count=devices if platform != "cpu" else None,
            model_context_length=shape.context_length if shape is not None else None,
            available_memory=available,
            memory_platform=platform,
        )
        errors = field_errors(self.owner)
        said = {path for path, _ in errors}  # the engine's word on these fields would say it twice
        memory = any(note.topic == "memory" for _, note in errors)
        kept = [p for p in engine if not _about(p, said) and not (memory and " needs about " in p)]
        return (
            [_named(field_label(path), note.text) for path, note in errors]
            + [in_page_words(p) for p in kept]
            + [f"data: {p}" for p in self.owner.data.problems()]
        )

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
