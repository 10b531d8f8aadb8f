"""Read and change one field of a frozen JobConfig by its dotted path ("optimizer.learning_rate").

The wizard keeps one JobConfig as its state; every widget reads and writes a path, so
presets, clones and edits all go through the same config and cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gemma_jax.config.convert import field_types
from gemma_jax.config.job_config import JobConfig


def field_type(path: str) -> Any | None:
    """The declared type at `path`, or None when no such field exists (e.g. one not added yet)."""
    cls: Any = JobConfig
    tp = None
    for part in path.split("."):
        if not dataclasses.is_dataclass(cls):
            return None
        types_ = field_types(cls)
        if part not in types_:
            return None
        tp = cls = types_[part]
    return tp


def has_field(path: str) -> bool:
    return field_type(path) is not None


def get_field(cfg: Any, path: str) -> Any:
    value = cfg
    for part in path.split("."):
        value = getattr(value, part)
    return value


def set_field(cfg: Any, path: str, value: Any) -> Any:
    """A copy of `cfg` with `path` set to `value` (lists become tuples, as the dataclasses declare)."""
    head, _, rest = path.partition(".")
    if not rest:
        if isinstance(value, list):
            value = tuple(value)
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: set_field(getattr(cfg, head), rest, value)})
