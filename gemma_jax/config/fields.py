"""JobConfig's fields as they describe themselves: the lookups validate(), init-config and the wizard use."""

from __future__ import annotations

import functools

from gemma_jax.config.field_spec import FieldSpec, collect_specs
from gemma_jax.config.job_config import JobConfig


@functools.cache
def field_specs() -> dict[str, FieldSpec]:
    """Every leaf field of JobConfig by dotted path ("optimizer.learning_rate"), in declaration order."""
    return collect_specs(JobConfig)


def spec_for(path: str) -> FieldSpec | None:
    """The spec of one dotted path, or None when JobConfig has no such field."""
    return field_specs().get(path)


def choices_of(path: str) -> tuple[str, ...]:
    """The allowed values of a choice field (what its implementation must provide)."""
    spec = field_specs()[path]
    if spec.choices is None:
        raise KeyError(f"{path} is not a choice field")
    return spec.choices


def wizard_fields(place: str) -> tuple[str, ...]:
    """The fields the wizard shows at `place` ("data", "method.advanced", ...), in declaration order."""
    return tuple(path for path, spec in field_specs().items() if spec.wizard == place)
