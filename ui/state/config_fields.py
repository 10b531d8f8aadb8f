"""Read and change one field of a frozen JobConfig by its dotted path ("optimizer.learning_rate").

The wizard keeps one JobConfig as its state; every widget reads and writes a path, so
presets, clones and edits all go through the same config and cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
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


def number_text(value: float | None) -> str:
    """A float field as a person reads it, small values included: 0.001, 2e-05 → "2e-5", 1e-07 → "1e-7".
    (A fixed-decimals display showed a learning rate of 1e-7 or Adam's eps of 1e-8 as 0.)"""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # a wrong type: Review reports it
        return str(value)
    text = f"{value:.12g}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def parse_number(text: str) -> float:
    """A typed float field: "0.001", "2e-4", "1E-7"; ValueError in words for anything else."""
    shown = text.strip()
    try:
        value = float(shown)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        quoted = shown if len(shown) <= 30 else shown[:30] + "…"
        raise ValueError(f"type a number such as 0.001 or 2e-4 (got {quoted!r})")
    return value
