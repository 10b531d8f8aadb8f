"""What each JobConfig field is, said once: help, choices, bounds, unit and where the wizard shows it.

Every field of the config dataclasses is declared with `setting(...)`, which keeps a
`FieldSpec` in the dataclass field's metadata (as google-deepmind/gemma and MaxText keep
their configs self-describing). validate(), `gemma-jax init-config`'s comments, the
wizard's widgets, tooltips and field lists, and the dashboard's path confinement all
read it through `field_specs()`; a new option is one `setting(...)` plus its implementation.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

_KEY = "gemma_jax"


@dataclass(frozen=True)
class FieldSpec:
    """One config field's description; `path` is filled in by field_specs()."""

    help: str  # plain words for a newcomer: what it does and which way to turn it
    choices: tuple[str, ...] | None = None  # the allowed values of a str field, or of each item of a list
    low: float | None = None  # smallest allowed value
    low_open: bool = False  # low itself is not allowed ("greater than 0")
    high: float | None = None  # largest allowed value
    high_open: bool = False  # high itself is not allowed ("below 1")
    hint: str = ""  # how to fix a value out of bounds, e.g. "typical values are 4 to 64"
    unit: str = ""  # e.g. "tokens", "steps", "USD per GiB-month"
    label: str = ""  # the wizard's label where the field name says too little ("Method" for method.kind)
    wizard: str | None = None  # "data", "data.advanced", "method" or "method.advanced": where the wizard shows it
    only_for: tuple[str, ...] | None = None  # the method.kind values it means something for (None: all)
    names_a_path: bool = False  # a file, folder or URL a dashboard user names: confined to their workspace
    path: str = ""  # the dotted path, filled in by field_specs()
    value_type: Any = None  # the declared type, filled in by field_specs()

    @property
    def is_list(self) -> bool:
        """A list field (`tuple[str, ...]`): choices, if any, apply to each item."""
        return typing.get_origin(strip_optional(self.value_type)) is tuple

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None

    def bounds_text(self) -> str:
        """The allowed range in words, as validate() says it ("between 0 and 0.9", "at least 1", ...)."""
        if self.low is not None and self.high is not None:
            if self.high_open:
                return f"at least {_number(self.low)} and below {_number(self.high)}"
            return f"between {_number(self.low)} and {_number(self.high)}"
        if self.low is not None:
            return f"greater than {_number(self.low)}" if self.low_open else f"at least {_number(self.low)}"
        return f"below {_number(self.high)}" if self.high_open else f"at most {_number(self.high)}"

    def allows(self, value: float) -> bool:
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def strip_optional(tp: Any) -> Any:
    """`X` of a field declared `X | None` (config fields are `X | None` at most), else `tp`."""
    if isinstance(tp, types.UnionType) and type(None) in tp.__args__:
        return next(a for a in tp.__args__ if a is not type(None))
    return tp


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Resolved type of each field of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = None, **spec: Any) -> Any:
    """A dataclass field with its FieldSpec; `factory` for defaults that are themselves dataclasses."""
    metadata = {_KEY: FieldSpec(help=help, **spec)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def spec_of(field: dataclasses.Field) -> FieldSpec | None:
    return field.metadata.get(_KEY)


def collect_specs(root: type) -> dict[str, FieldSpec]:
    """Every leaf field of the config dataclass `root` by dotted path, in declaration order, with its spec."""
    found: dict[str, FieldSpec] = {}

    def walk(cls: type, prefix: str) -> None:
        types_ = field_types(cls)
        for field in dataclasses.fields(cls):
            path = prefix + field.name
            if dataclasses.is_dataclass(types_[field.name]):
                walk(types_[field.name], path + ".")
                continue
            spec = spec_of(field)
            if spec is None:
                raise TypeError(f"{path}: declare it with setting(...) so it carries its description")
            found[path] = dataclasses.replace(spec, path=path, value_type=types_[field.name])

    walk(root, "")
    return found
