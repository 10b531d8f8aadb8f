"""Strict conversion between JobConfig and plain dicts (what YAML, JSON and the UI speak).

Strict because a silently ignored typo ("learnig_rate") trains the wrong model
for hours; complete because every problem is collected and reported at once.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

from gemma_jax.config.errors import ConfigError, closest
from gemma_jax.config.field_spec import field_types, strip_optional
from gemma_jax.config.job_config import JobConfig

_MISSING = object()
_ALIASES = {
    "lr": "learning_rate",
    "rank": "lora_rank",
    "alpha": "lora_alpha",
    "targets": "lora_targets",
    "steps": "max_steps",
    "bs": "batch_size",
    "seq_len": "sequence_length",
}


def is_optional(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) and type(None) in tp.__args__


def is_str_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple and typing.get_args(tp) == (str, ...)


@functools.cache
def _leaf_paths() -> dict[str, list[str]]:
    """Field name -> every dotted path that ends in it (for 'it belongs in another section')."""
    found: dict[str, list[str]] = {}

    def walk(cls: type, prefix: str) -> None:
        for name, tp in field_types(cls).items():
            path = f"{prefix}{name}"
            found.setdefault(name, []).append(path)
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{path}.")

    walk(JobConfig, "")
    return found


def unknown_key_message(path: str, key: str, known: list[str]) -> str:
    """The message for a key that is not a field: a near miss here, or the section it belongs to."""
    where = f"{path}.{key}" if path else key
    match = _ALIASES.get(key) if _ALIASES.get(key) in known else closest(key, known)
    if match:
        return f"{where}: unknown key; did you mean '{match}'?"
    elsewhere = [p for p in _leaf_paths().get(key, []) if p != where]
    if elsewhere:
        return f"{where}: unknown key; did you mean '{elsewhere[0]}'?"
    return f"{where}: unknown key; known keys here are {', '.join(known)}"


def describe(tp: Any) -> str:
    """A type in user words, for messages."""
    if is_optional(tp):
        return f"{describe(strip_optional(tp))} or null"
    if dataclasses.is_dataclass(tp):
        return "a section of key: value lines"
    if is_str_tuple(tp):
        return "a list of strings"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _bad(path: str, tp: Any, value: Any) -> str:
    message = f"{path} must be {describe(tp)}, got {value!r}"
    base = strip_optional(tp)
    if base in (int, float) and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            pass
        else:
            message += "; write the number without quotes"
    elif base is str and isinstance(value, (int, float, bool)):
        message += "; put it in quotes if it is meant as text"
    elif is_str_tuple(base) and isinstance(value, str):
        message += f"; write it as a list, e.g. [{value}]"
    return message


def _convert(value: Any, tp: Any, path: str, default: Any, problems: list[str]) -> Any:
    if value is None:
        if is_optional(tp):
            return None
        if dataclasses.is_dataclass(tp):  # an empty YAML section ("eval:") means all defaults
            return _build(tp, {}, path, problems)
        hint = "" if default is _MISSING else f" or remove the key to use the default {default!r}"
        problems.append(f"{path} cannot be null; give {describe(tp)}{hint}")
        return _MISSING
    base = strip_optional(tp)
    if dataclasses.is_dataclass(base):
        if isinstance(value, base):  # a section object from a notebook: still checked field by field
            value = _plain(value)
        if isinstance(value, Mapping):
            return _build(base, value, path, problems)
    elif base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif base is str:
        if isinstance(value, str):
            return value
    elif is_str_tuple(base):
        if isinstance(value, (list, tuple)):
            items = []
            for i, item in enumerate(value):
                if isinstance(item, str):
                    items.append(item)
                else:
                    problems.append(f"{path}[{i}] must be a string, got {item!r}; put it in quotes")
            return tuple(items) if len(items) == len(value) else _MISSING
    else:  # a field type this module does not know: a programming error, not a user one
        raise TypeError(f"config field {path} has unsupported type {tp!r}")
    problems.append(_bad(path, tp, value))
    return _MISSING


def _build(cls: type, data: Mapping[Any, Any], path: str, problems: list[str]) -> Any:
    types_ = field_types(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            where = f"{path}: key" if path else "key"
            problems.append(f"{where} {key!r} must be text; put it in quotes or rename it")
            continue
        if key not in types_:
            problems.append(unknown_key_message(path, key, list(types_)))
            continue
        sub = f"{path}.{key}" if path else key
        converted = _convert(value, types_[key], sub, defaults[key], problems)
        if converted is not _MISSING:
            kwargs[key] = converted
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any] | None) -> JobConfig:
    """Build a JobConfig from plain data; missing keys keep their defaults (presets are partial dicts).

    Raises ConfigError listing every unknown key and wrongly typed value.
    """
    if data is None:
        return JobConfig()
    if not isinstance(data, Mapping):
        raise ConfigError([f"a config must be a mapping of key: value lines, got {type(data).__name__}"])
    problems: list[str] = []
    cfg = _build(JobConfig, data, "", problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_to_dict(cfg: JobConfig) -> dict[str, Any]:
    """Plain nested dicts, lists and scalars in field order, ready for yaml.safe_dump or json.dumps."""
    return _plain(cfg)


def type_problems(cfg: JobConfig) -> list[str]:
    """Type problems of a config built in Python (which bypasses config_from_dict's checks)."""
    try:
        config_from_dict(config_to_dict(cfg))
    except ConfigError as err:
        return list(err.problems)
    return []
