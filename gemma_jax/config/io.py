"""Reading and writing JobConfig as YAML files, plus the dict and override entry points.

Every failure a user can cause (missing file, YAML typo, unknown key, wrong type)
comes back as one ConfigError naming the file and, where known, the line.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import yaml

from gemma_jax.atomic_files import atomic_write_text
from gemma_jax.config.convert import config_from_dict, config_to_dict
from gemma_jax.config.errors import ConfigError
from gemma_jax.config.fields import field_specs
from gemma_jax.config.job_config import JobConfig
from gemma_jax.config.overrides import apply_overrides
from gemma_jax.config.yaml_loader import parse_yaml, yaml_error_message

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_from_dict",
    "config_to_commented_yaml",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "save_config",
]


def load_config(path: str | os.PathLike[str]) -> JobConfig:
    """Load a YAML config; keys left out keep their defaults."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path}: no such config file; check the path"])
    if path.is_dir():
        raise ConfigError([f"{path}: is a directory; give the path of a .yaml config file"])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8 text; save the config as UTF-8 YAML"]) from None
    except OSError as err:
        raise ConfigError([f"{path}: cannot be read ({err.strerror}); check its permissions"]) from None
    try:
        data, repeated = parse_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError([yaml_error_message(err, str(path))]) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be key: value lines, got {type(data).__name__}"])
    problems = list(repeated)
    try:
        cfg = config_from_dict(data)
    except ConfigError as err:
        problems.extend(err.problems)
    if problems:
        raise ConfigError(problems, source=str(path))
    return cfg


def config_to_yaml(cfg: JobConfig) -> str:
    """The YAML text save_config writes (also what the UI shows on its Review page)."""
    body = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "# gemma-jax job config\n" + body


def config_to_commented_yaml(cfg: JobConfig) -> str:
    """The YAML of config_to_yaml with each field's description, choices and bounds as comments above it
    (what `gemma-jax init-config` writes: a file that explains itself)."""
    specs = field_specs()
    lines = ["# gemma-jax job config: every field with its default. Remove what you do not change."]

    def write(values: dict, prefix: str, indent: str) -> None:
        for name, value in values.items():
            path = prefix + name
            if isinstance(value, dict):
                lines.extend(["", f"{indent}{name}:"])
                write(value, path + ".", indent + "  ")
                continue
            spec = specs[path]
            notes = [spec.help]
            if spec.choices:
                notes.append(f"One of: {', '.join(spec.choices)}.")
            if spec.bounded:
                notes.append(f"Must be {spec.bounds_text()}{' ' + spec.unit if spec.unit else ''}.")
            for line in textwrap.wrap(" ".join(notes), width=100 - len(indent)):
                lines.append(f"{indent}# {line}")
            dumped = yaml.safe_dump({name: value}, allow_unicode=True, default_flow_style=False, width=1000)
            lines.extend(indent + line for line in dumped.rstrip("\n").split("\n"))

    write(config_to_dict(cfg), "", "")
    return "\n".join(lines) + "\n"


def save_config(cfg: JobConfig, path: str | os.PathLike[str], *, comments: bool = False) -> None:
    """Write the config as YAML (with each field's description when `comments`), atomically, so a reader
    never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, config_to_commented_yaml(cfg) if comments else config_to_yaml(cfg))
