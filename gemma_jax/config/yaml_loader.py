"""A YAML loader that reads numbers the way people write them and reports repeated keys.

PyYAML follows YAML 1.1, where `1e-4` (no dot) is a *string*; every learning rate
written that way would be rejected. A repeated key silently wins in PyYAML; here it
is a problem, because one of the two values is a mistake.

A config is small and flat, so hostile YAML is refused while it is parsed: aliases
(`*name`; a 700-byte "billion laughs" file expands to gigabytes when printed or walked),
nesting deeper than MAX_DEPTH (Python's recursion limit), and files over MAX_CONFIG_BYTES.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


MAX_DEPTH = 32
MAX_CONFIG_BYTES = 1024 * 1024


class RefusedYaml(yaml.composer.ComposerError):
    """YAML that is valid but refused in a config (aliases, deep nesting, size)."""


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader plus YAML 1.2 floats (1e-4), a record of repeated keys in `repeated`, and no aliases
    or deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[str] = []
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise RefusedYaml(
                None, None, "aliases (*name) are not allowed in a config; write the value out in full", mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise RefusedYaml(None, None, f"the config is nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    self.repeated.append(
                        f"line {line}: key '{key_node.value}' is repeated (first on line "
                        f"{seen[key_node.value]}); keep only one"
                    )
                else:
                    seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_yaml(text: str) -> tuple[Any, list[str]]:
    """(data, repeated-key messages). Raises yaml.YAMLError on syntax errors and hostile input."""
    if len(text) > MAX_CONFIG_BYTES:
        raise yaml.YAMLError(
            f"the config is {len(text):,} characters, over {MAX_CONFIG_BYTES:,}; is it the right file?"
        )
    loader = ConfigLoader(text)
    try:
        return loader.get_single_data(), loader.repeated
    finally:
        loader.dispose()


def yaml_error_message(err: yaml.YAMLError, source: str) -> str:
    """'<source>, line L, column C: YAML syntax error: <problem>' in one line."""
    mark = getattr(err, "problem_mark", None)
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    detail = f"{problem} ({context})" if context else problem
    if isinstance(err, RefusedYaml):
        return f"{where}: {detail}"
    return f"{where}: YAML syntax error: {detail}; check the indentation, colons and quotes there"
